variable "handler" {
  description = "Which rotation function to deploy: a built-in handler, the zip <package_dir>/<handler>.zip built by `npm run build`; or \"custom\", your own rotator's zip given by zip_path."
  type        = string

  validation {
    condition = contains([
      "elasticache-user",
      "http-api-key",
      "mysql-alternating-users",
      "mysql-single-user",
      "oauth-client-secret",
      "postgres-alternating-users",
      "postgres-single-user",
      "random-secret",
      "redis-alternating-users",
      "redis-password-overlap",
      "redis-single-user",
      "ssh-keys",
      "custom",
    ], var.handler)
    error_message = "handler must be one of the files of handlers/ (elasticache-user, http-api-key, mysql-alternating-users, mysql-single-user, oauth-client-secret, postgres-alternating-users, postgres-single-user, random-secret, redis-alternating-users, redis-password-overlap, redis-single-user, ssh-keys), or custom with zip_path."
  }
}

variable "name" {
  description = "Name of the shared function and prefix of everything else this module creates."
  type        = string
}

variable "zip_path" {
  description = "Your own rotator's zip, built by `secrets-rotator build path/to/rotator.ts` (with handler = \"custom\"). Default: <package_dir>/<handler>.zip."
  type        = string
  default     = null
}

variable "package_dir" {
  description = "Folder holding the built zips. Default: dist/lambda of this repository."
  type        = string
  default     = null
}

variable "rotation_group" {
  description = "When set, the role may rotate only secrets tagged rotation-group=<value> (besides naming this function), and the function checks the same tag. null: any secret attached to the function."
  type        = string
  default     = null
}

variable "master_secret_arns" {
  description = "Alternating-users handlers only: full ARNs of the master secrets the rotated secrets name in \"masterarn\"."
  type        = list(string)
  default     = []
}

variable "master_secret_group" {
  description = "Alternating-users handlers only: also read master secrets tagged rotation-master=<value>. null for none."
  type        = string
  default     = null
}

variable "elasticache_user_arns" {
  description = "elasticache-user only: ARNs of the ElastiCache users whose passwords the function changes (elasticache:ModifyUser and elasticache:DescribeUsers on exactly these). null grants no ElastiCache permission."
  type        = list(string)
  default     = null
}

variable "master_database_arns" {
  description = "Alternating-users handlers only: ARNs of the RDS DB instances and clusters behind the master secrets (rds:DescribeDBInstances, rds:DescribeDBClusters). null allows those read-only calls on any DB instance and cluster of this account and region."
  type        = list(string)
  default     = null
}

variable "kms_key_arns" {
  description = "The customer managed KMS keys encrypting the secrets, if any (empty for aws/secretsmanager)."
  type        = list(string)
  default     = []
}

variable "subnet_ids" {
  description = "Private subnets that reach the database (and Secrets Manager, by VPC endpoint or NAT). Empty for no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function; the database's group must allow them in."
  type        = list(string)
  default     = []
}

variable "architecture" {
  description = "arm64 or x86_64: the bundles are plain JavaScript and run on both."
  type        = string
  default     = "arm64"
}

variable "memory_size" {
  description = "MB. 128 holds every handler (npm run bench: peak RSS at Lambda's 128 MB Node flags); a rotation mostly waits on the network, so more memory barely shortens it."
  type        = number
  default     = 128
}

variable "timeout" {
  description = "Seconds per rotation step."
  type        = number
  default     = 60
}

variable "log_level" {
  type    = string
  default = "INFO"
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "trust_amazon_ca_certificates" {
  description = "Load the Lambda runtime's Amazon CA bundle (/var/runtime/ca-cert.pem, RDS included) so TLS to RDS verifies."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "Address subscribed to the alerts topic (confirm the subscription e-mail). null for none."
  type        = string
  default     = null
}

variable "metrics_namespace" {
  type    = string
  default = "SecretsRotator"
}

variable "tags" {
  type    = map(string)
  default = {}
}

# The function's settings, by environment variable name (docs/environment.md explains each). Unset
# (null) means the code's default applies.
variable "settings" {
  description = "Environment variables of the function, by name; null leaves a variable unset."
  type = object({
    ALLOWED_SECRET_IDS                 = optional(string)
    AWS_ENDPOINT_URL_SECRETS_MANAGER   = optional(string)
    SECRETS_MANAGER_MAX_ATTEMPTS       = optional(string)
    SECRETS_MANAGER_CONNECT_TIMEOUT_MS = optional(string)
    SECRETS_MANAGER_REQUEST_TIMEOUT_MS = optional(string)
    PASSWORD_GENERATOR                 = optional(string)
    PASSWORD_LENGTH                    = optional(string)
    EXCLUDE_CHARACTERS                 = optional(string)
    EXCLUDE_NUMBERS                    = optional(string)
    EXCLUDE_PUNCTUATION                = optional(string)
    EXCLUDE_UPPERCASE                  = optional(string)
    EXCLUDE_LOWERCASE                  = optional(string)
    INCLUDE_SPACE                      = optional(string)
    REQUIRE_EACH_INCLUDED_TYPE         = optional(string)
    RANDOM_SECRET_FIELD                = optional(string)
    HTTP_API_KEY_CONFIG                = optional(string)
    HTTP_API_KEY_ALLOWED_HOSTS         = optional(string)
    OAUTH_CLIENT_SECRET_CONFIG         = optional(string)
    PG_TLS_MODE                        = optional(string)
    PG_CA_BUNDLE                       = optional(string)
    PG_TLS_SERVERNAME                  = optional(string)
    PG_CONNECT_TIMEOUT_MS              = optional(string)
    PG_STATEMENT_TIMEOUT_MS            = optional(string)
    PG_TEST_QUERY                      = optional(string)
    PG_SCRAM_ITERATIONS                = optional(string)
    PG_REDSHIFT_PASSWORD_HASH          = optional(string)
    PG_PREPROVISIONED_PAIR             = optional(string)
    MYSQL_TLS_MODE                     = optional(string)
    MYSQL_SERVER_PUBLIC_KEY            = optional(string)
    MYSQL_CA_BUNDLE                    = optional(string)
    MYSQL_TLS_SERVERNAME               = optional(string)
    MYSQL_CONNECT_TIMEOUT_MS           = optional(string)
    MYSQL_STATEMENT_TIMEOUT_MS         = optional(string)
    MYSQL_TEST_QUERY                   = optional(string)
    MYSQL_DUAL_PASSWORD                = optional(string)
    MYSQL_PREPROVISIONED_PAIR          = optional(string)
    REDIS_TLS_MODE                     = optional(string)
    REDIS_CA_BUNDLE                    = optional(string)
    REDIS_TLS_SERVERNAME               = optional(string)
    REDIS_CONNECT_TIMEOUT_MS           = optional(string)
    REDIS_COMMAND_TIMEOUT_MS           = optional(string)
    REDIS_PREPROVISIONED_PAIR          = optional(string)
    ELASTICACHE_WAIT_TIMEOUT_MS        = optional(string)
    ELASTICACHE_POLL_INTERVAL_MS       = optional(string)
    ELASTICACHE_REQUEST_TIMEOUT_MS     = optional(string)
    AWS_ENDPOINT_URL_ELASTICACHE       = optional(string)
    DATABASE_ALLOWED_HOSTS             = optional(string)
    SSH_HOST_KEYS                      = optional(string)
    SSH_ALLOWED_HOSTS                  = optional(string)
    SSH_CONNECT_TIMEOUT_MS             = optional(string)
    SSH_COMMAND_TIMEOUT_MS             = optional(string)
  })
  default = {}
}
