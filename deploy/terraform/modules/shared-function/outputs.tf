output "function_arn" {
  description = "Attach a secret with module attach-secret (rotation_function_arn)."
  value       = aws_lambda_function.rotation.arn
}

output "role_arn" {
  value = aws_iam_role.rotation.arn
}

output "alerts_topic_arn" {
  value = aws_sns_topic.alerts.arn
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.rotation.name
}
