/**
 * `secrets-rotator/adapters/mysql`: rotation of MySQL, Aurora MySQL and MariaDB user passwords,
 * as a single user (docs/protocol.md#single-user) or alternating users (docs/protocol.md#alternating-users and docs/protocol.md#shared-ownership-and-exact-grants).
 */
export { type MysqlAlternatingUsersOptions, mysqlAlternatingUsers } from './alternating-users.ts';
export type { MysqlSecret } from './secret.ts';
export { type MysqlSingleUserOptions, mysqlSingleUser } from './single-user.ts';
