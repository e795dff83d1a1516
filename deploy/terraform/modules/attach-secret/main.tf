# secrets-rotator, shared form: attaches one more secret to an existing shared rotation function
# (module shared-function) with a rotation schedule. Nothing else changes: the function's role
# already allows any secret whose rotation function is that function. When the function has a
# rotation_group, tag the secret rotation-group=<that group> first.

variable "secret_arn" {
  description = "Full ARN of the secret to rotate (with its random suffix)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.secret_arn))
    error_message = "secret_arn must be the full ARN of a Secrets Manager secret."
  }
}

variable "rotation_function_arn" {
  description = "The function_arn output of the shared-function module."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+$", var.rotation_function_arn))
    error_message = "rotation_function_arn must be the ARN of a Lambda function."
  }
}

variable "schedule_expression" {
  description = "rate(N days) or cron(...): rotation_rules.schedule_expression."
  type        = string
  default     = "rate(30 days)"
}

variable "rotation_window" {
  description = "rotation_rules.duration: the window in which a scheduled rotation runs, e.g. \"4h\"."
  type        = string
  default     = "4h"
}

variable "rotate_immediately" {
  description = "Rotate when the schedule is created or changed; false runs testSecret only."
  type        = bool
  default     = true
}

resource "aws_secretsmanager_secret_rotation" "this" {
  secret_id           = var.secret_arn
  rotation_lambda_arn = var.rotation_function_arn
  rotate_immediately  = var.rotate_immediately

  rotation_rules {
    schedule_expression = var.schedule_expression
    duration            = var.rotation_window
  }
}

output "secret_arn" {
  value = aws_secretsmanager_secret_rotation.this.secret_id
}
