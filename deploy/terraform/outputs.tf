output "function_arn" {
  value = aws_lambda_function.rotation.arn
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

output "code_sha256" {
  description = "base64 sha256 of the deployed zip (dist/lambda/manifest.json holds the hex form)."
  value       = aws_lambda_function.rotation.source_code_hash
}
