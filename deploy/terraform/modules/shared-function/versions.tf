terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # rotate_immediately on aws_secretsmanager_secret_rotation, Metrics Insights alarms.
      version = ">= 5.40"
    }
  }
}
