import type { Command } from 'commander';
import type { CommandContext } from '../context.ts';

/** Adds `demo` (placeholder). */
export function registerDemo(_program: Command, _context: CommandContext): void {}
