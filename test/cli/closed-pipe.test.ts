/**
 * The installed command's output piped into a reader that stops early (`secrets-rotator --help |
 * head -1`): the command ends as it would have, with its own exit code and no crash report.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'secrets-rotator.mjs');

function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the command writes a byte: its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('secrets-rotator with its output closed early', () => {
  it('--help: exits 0, no crash report', async () => {
    const { code, stderr } = await runWithClosedStdout(['--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('a usage error still exits 2 with its message on stderr', async () => {
    const { code, stderr } = await runWithClosedStdout(['rotate', '--no-such-flag']);
    expect(stderr).toContain("unknown option '--no-such-flag'");
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(2);
  });
});
