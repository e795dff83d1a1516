# secrets-rotator, shared form: one rotation function and one role for many secrets. A secret
# joins by its rotation schedule alone (module attach-secret): the role may touch a secret only
# while that secret names this function as its rotation function
# (secretsmanager:resource/AllowRotationLambdaArn), and optionally only with the tag
# rotation-group=<rotation_group>.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  package_dir = coalesce(var.package_dir, "${path.module}/../../../../dist/lambda")
  zip_path    = coalesce(var.zip_path, "${local.package_dir}/${var.handler}.zip")
  has_vpc     = length(var.subnet_ids) > 0
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.name
  account_id  = data.aws_caller_identity.current.account_id
  any_secret  = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:*"
  # Every DB instance and cluster of this account and region.
  account_rds_resources = [for kind in ["db", "cluster"] : "arn:${local.partition}:rds:${local.region}:${local.account_id}:${kind}:*"]
  # Built from the name: referring to the function resource here would make a dependency cycle.
  function_arn = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.name}"

  # Variables the module sets itself; `settings` may override them.
  module_environment = {
    ALLOWED_SECRET_TAG           = var.rotation_group == null ? null : "rotation-group=${var.rotation_group}"
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

  attached_condition = merge(
    { ArnEquals = { "secretsmanager:resource/AllowRotationLambdaArn" = local.function_arn } },
    var.rotation_group == null ? {} : {
      StringEquals = { "secretsmanager:ResourceTag/rotation-group" = var.rotation_group }
    },
  )

  # Exactly the Secrets Manager operations the bundled code sends (checked by
  # test/packaging/shared-function.test.ts against every zip).
  statements = concat(
    [
      {
        Sid    = "RotateSecretsAttachedToThisFunction"
        Effect = "Allow"
        Action = [
          "secretsmanager:DescribeSecret",
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:UpdateSecretVersionStage",
        ]
        Resource  = local.any_secret
        Condition = local.attached_condition
      },
      {
        Sid      = "GeneratePasswords"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetRandomPassword"]
        Resource = "*"
      },
    ],
    length(var.master_secret_arns) == 0 ? [] : [
      {
        Sid    = "ReadListedMasterSecrets"
        Effect = "Allow"
        # DescribeSecret: the aws:rds:* tags that locate an RDS-managed master.
        Action   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource = var.master_secret_arns
      },
    ],
    var.master_secret_group == null ? [] : [
      {
        Sid       = "ReadTaggedMasterSecrets"
        Effect    = "Allow"
        Action    = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
        Resource  = local.any_secret
        Condition = { StringEquals = { "secretsmanager:ResourceTag/rotation-master" = var.master_secret_group } }
      },
    ],
    # The master rule: which servers RDS reports as the masters' own (replicas, readers, cluster
    # members). Read-only calls, on the deployer's resources when listed.
    length(var.master_secret_arns) == 0 && var.master_secret_group == null ? [] : [
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
    length(var.kms_key_arns) == 0 ? [] : [
      {
        Sid       = "UseTheSecretsKeysThroughSecretsManagerOnly"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = var.kms_key_arns
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
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
  policy_arn = local.has_vpc ? "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole" : "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy" "rotate_attached_secrets" {
  name   = "rotate-attached-secrets"
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
  description      = "secrets-rotator ${var.handler}, shared by every secret attached to it"
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
    aws_iam_role_policy.rotate_attached_secrets,
    aws_iam_role_policy_attachment.logs_and_network,
  ]
  tags = var.tags
}

resource "aws_lambda_permission" "secrets_manager" {
  statement_id   = "SecretsManagerInvoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.rotation.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = local.account_id
  # Only rotations of this account's secrets in this region; the role decides which secrets.
  source_arn = local.any_secret
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

# Secrets Manager's own verdict on rotations (CloudTrail service events). The events do not name
# the rotation function, so this rule reports every failed rotation of the account and Region.
resource "aws_cloudwatch_event_rule" "rotation_failures" {
  name        = "${var.name}-rotation-failures"
  description = "Failed, abandoned or failed test rotations of any secret in this account and Region"
  event_pattern = jsonencode({
    source        = ["aws.secretsmanager"]
    "detail-type" = ["AWS Service Event via CloudTrail"]
    detail = {
      eventSource = ["secretsmanager.amazonaws.com"]
      eventName   = ["RotationFailed", "RotationAbandoned", "TestRotationFailed"]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "rotation_failures" {
  rule      = aws_cloudwatch_event_rule.rotation_failures.name
  target_id = "alerts-topic"
  arn       = aws_sns_topic.alerts.arn
}

# The function's own metric: any failed step of any attached secret (EMF metric
# RotationStepFailed, dimensions adapter, service, step), summed with a Metrics Insights query.
resource "aws_cloudwatch_metric_alarm" "step_failures" {
  alarm_name          = "${var.name}-rotation-step-failed"
  alarm_description   = "A rotation step of ${var.name} failed (its log group names the secret, the step and the error)"
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
