data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  package_dir = coalesce(var.package_dir, "${path.module}/../../dist/lambda")
  zip_path    = coalesce(var.zip_path, "${local.package_dir}/${var.handler}.zip")
  has_vpc     = length(var.subnet_ids) > 0

  # Every DB instance and cluster of the secret's account and region.
  account_rds_resources = [
    for kind in ["db", "cluster"] :
    "arn:${data.aws_partition.current.partition}:rds:${split(":", var.secret_arn)[3]}:${split(":", var.secret_arn)[4]}:${kind}:*"
  ]

  # Variables the module sets itself; `settings` may override the first.
  module_environment = {
    ALLOWED_SECRET_IDS           = var.secret_arn
    POWERTOOLS_SERVICE_NAME      = var.name
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = var.log_level
    NODE_EXTRA_CA_CERTS          = var.trust_amazon_ca_certificates ? "/var/runtime/ca-cert.pem" : null
  }
  environment = {
    for name, value in merge(
      local.module_environment,
      { for name, value in var.settings : name => value if value != null },
    ) : name => value if value != null
  }

  # Exactly the Secrets Manager operations the bundled code sends (checked by
  # test/packaging/consistency.test.ts against every zip).
  statements = concat(
    [
      {
        Sid    = "RotateTheSecret"
        Effect = "Allow"
        Action = [
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ]
        Resource = var.secret_arn
      },
      {
        Sid      = "GeneratePasswords"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetRandomPassword"]
        Resource = "*"
      },
    ],
    var.master_secret_arn == null ? [] : [
      {
        Sid    = "ReadTheMasterSecret"
        Effect = "Allow"
        # DescribeSecret: the aws:rds:* tags that locate an RDS-managed master.
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = var.master_secret_arn
      },
      # The master rule: which servers RDS reports as the master's own (replicas, readers, cluster
      # members). Read-only calls, on the deployer's resources when listed.
      {
        Sid      = "FindTheMastersServers"
        Effect   = "Allow"
        Action   = ["rds:DescribeDBClusters", "rds:DescribeDBInstances"]
        Resource = var.master_database_arns != null ? var.master_database_arns : local.account_rds_resources
      },
    ],
    # elasticache-user: the users' passwords, changed through the ElastiCache API, on the listed users only.
    var.elasticache_user_arns == null ? [] : [
      {
        Sid      = "ChangeTheElastiCacheUsersPasswords"
        Effect   = "Allow"
        Action   = ["elasticache:DescribeUsers", "elasticache:ModifyUser"]
        Resource = var.elasticache_user_arns
      },
    ],
    var.kms_key_arn == null ? [] : [
      {
        Sid      = "UseTheSecretsKeyThroughSecretsManagerOnly"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = var.kms_key_arn
        Condition = {
          StringEquals = {
            # The secret's region, from its ARN.
            "kms:ViaService" = "secretsmanager.${split(":", var.secret_arn)[3]}.amazonaws.com"
            # Only for this function's secrets, not every secret under the same key.
            "kms:EncryptionContext:SecretARN" = compact([var.secret_arn, var.master_secret_arn])
          }
        }
      },
    ],
  )
}

resource "aws_iam_role" "rotation" {
  name = "${var.name}-rotation"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "logs_and_network" {
  role = aws_iam_role.rotation.name
  # Logs, plus the network interfaces a function in a VPC needs.
  policy_arn = local.has_vpc ? "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole" : "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy" "rotate_one_secret" {
  name   = "rotate-one-secret"
  role   = aws_iam_role.rotation.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.statements })
}

resource "aws_cloudwatch_log_group" "rotation" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "rotation" {
  function_name    = var.name
  description      = "secrets-rotator ${var.handler} for ${var.secret_arn}"
  filename         = local.zip_path
  source_code_hash = filebase64sha256(local.zip_path)
  handler          = "index.handler"
  runtime          = "nodejs22.x"
  architectures    = [var.architecture]
  memory_size      = var.memory_size
  timeout          = var.timeout
  role             = aws_iam_role.rotation.arn

  lifecycle {
    precondition {
      condition     = var.handler != "custom" || var.zip_path != null
      error_message = "handler = \"custom\" needs zip_path: the zip that `secrets-rotator build` wrote."
    }
  }

  environment {
    variables = local.environment
  }

  dynamic "vpc_config" {
    for_each = local.has_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.rotation,
    aws_iam_role_policy.rotate_one_secret,
    aws_iam_role_policy_attachment.logs_and_network,
  ]
  tags = var.tags
}

resource "aws_lambda_permission" "secrets_manager" {
  statement_id   = "SecretsManagerInvoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.rotation.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = data.aws_caller_identity.current.account_id
  # Only rotations of this secret may invoke the function (no confused deputy).
  source_arn = var.secret_arn
}

resource "aws_secretsmanager_secret_rotation" "this" {
  secret_id           = var.secret_arn
  rotation_lambda_arn = aws_lambda_function.rotation.arn
  rotate_immediately  = var.rotate_immediately

  rotation_rules {
    schedule_expression = var.schedule_expression
    duration            = var.rotation_window
  }

  depends_on = [aws_lambda_permission.secrets_manager]
}

resource "aws_sns_topic" "alerts" {
  name = "${var.name}-rotation-alerts"
  tags = var.tags
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EventBridgeRotationFailures"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.rotation_failures.arn } }
      },
      {
        Sid       = "CloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_metric_alarm.step_failures.arn } }
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Secrets Manager's own verdict on this secret's rotations (CloudTrail service events).
resource "aws_cloudwatch_event_rule" "rotation_failures" {
  name        = "${var.name}-rotation-failures"
  description = "Failed, abandoned or failed test rotations of ${var.secret_arn}"
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventSource         = ["secretsmanager.amazonaws.com"]
      eventName           = ["RotationFailed", "RotationAbandoned", "TestRotationFailed"]
      additionalEventData = { SecretId = [var.secret_arn] }
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "rotation_failures" {
  rule      = aws_cloudwatch_event_rule.rotation_failures.name
  target_id = "alerts-topic"
  arn       = aws_sns_topic.alerts.arn
}

# The function's own metric: any failed step (EMF metric RotationStepFailed, dimensions adapter,
# service, step), summed over every step with a Metrics Insights query.
resource "aws_cloudwatch_metric_alarm" "step_failures" {
  alarm_name          = "${var.name}-rotation-step-failed"
  alarm_description   = "A rotation step of ${var.name} failed (see its log group for the step and the error)"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "failedsteps"
    period      = 300
    return_data = true
    expression  = "SELECT SUM(RotationStepFailed) FROM SCHEMA(\"${var.metrics_namespace}\", adapter, service, step) WHERE service = '${var.name}'"
  }
  tags = var.tags
}
