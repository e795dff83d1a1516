import type { Command } from 'commander';
import type { CommandContext } from '../context.ts';

/** Adds `check` (placeholder). */
export function registerCheck(_program: Command, _context: CommandContext): void {}
