/**
 * `secrets-rotator/adapters/mysql`: rotation of MySQL, Aurora MySQL and MariaDB user passwords,
 * as a single user (docs/protocol.md#single-user) or alternating users (docs/protocol.md#alternating-users and docs/protocol.md#shared-ownership-and-exact-grants).
 */
export { type MysqlAlternatingUsersOptions, mysqlAlternatingUsers } from './alternating-users.ts';
export { MYSQL_DEFAULT_EXCLUDE_CHARACTERS } from './common.ts';
export { detectFlavour, type MysqlFlavour } from './flavour.ts';
export { MYSQL_ENGINES, type MysqlSecret, parseMysqlSecret, serializeMysqlSecret } from './secret.ts';
export { MYSQL_ENV, type MysqlSettings, readMysqlSettings } from './settings.ts';
export { type MysqlSingleUserOptions, mysqlSingleUser } from './single-user.ts';
