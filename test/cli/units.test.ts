import { describe, expect, it } from 'vitest';
import { awsFailure, isLoopbackUrl } from '../../src/cli/aws.ts';
import { renderCsv, renderTable } from '../../src/cli/format.ts';
import { labelChanges, unfinishedPending } from '../../src/cli/labels.ts';
import { assessSecret, passesPolicy, type SecretFacts } from '../../src/cli/verdict.ts';
import { cli } from './run.ts';

const DAY = 86_400_000;
const now = new Date('2030-06-01T00:00:00Z');
const ago = (days: number) => new Date(now.getTime() - days * DAY);
const base: SecretFacts = {
  name: 'app/db',
  arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf',
  rotationEnabled: true,
  rotationLambdaArn: 'arn:aws:lambda:us-east-1:123456789012:function:rotator',
  rotationRules: { AutomaticallyAfterDays: 30 },
  createdDate: ago(400),
  lastRotatedDate: ago(10),
  versions: { a: ['AWSCURRENT'], b: ['AWSPREVIOUS'] },
};

describe('verdict', () => {
  it('computes the due date from the interval when the service gives none, and honours the window', () => {
    expect(assessSecret(base, { now }).verdict).toBe('healthy');
    const late = { ...base, lastRotatedDate: ago(31) };
    expect(assessSecret(late, { now }).verdict).toBe('healthy'); // within the default one-day window
    expect(assessSecret({ ...base, lastRotatedDate: ago(32) }, { now }).verdict).toBe('overdue');
    const windowed = {
      ...base,
      lastRotatedDate: ago(30.5),
      rotationRules: { AutomaticallyAfterDays: 30, Duration: '2h' },
    };
    expect(assessSecret(windowed, { now }).verdict).toBe('overdue');
    const rate = { ...base, lastRotatedDate: ago(4), rotationRules: { ScheduleExpression: 'rate(2 days)' } };
    expect(assessSecret(rate, { now }).verdict).toBe('overdue');
  });

  it('calls an unfinished rotation of unknown age stuck, and explains the rest in order of urgency', () => {
    const stuck = { ...base, rotationEnabled: false, versions: { a: ['AWSCURRENT'], c: ['AWSPENDING'] } };
    const assessment = assessSecret(stuck, { now, maxAgeDays: 5 });
    expect(assessment.findings.map((f) => f.verdict)).toEqual(['stuck', 'rotation-disabled', 'too-old']);
    expect(assessment.findings[0]!.message).toContain('since an unknown time');
    expect(assessment.passes).toBe(false);
    expect(passesPolicy(assessment, ['stuck', 'rotation-disabled'])).toBe(false);
    expect(passesPolicy(assessment, ['stuck', 'rotation-disabled', 'too-old'])).toBe(true);
  });

  it('ignores AWSPENDING left on the current version, and ages the value from the current version', () => {
    const leftover = { ...base, versions: { a: ['AWSCURRENT', 'AWSPENDING'] } };
    expect(unfinishedPending(leftover.versions)).toBeUndefined();
    expect(assessSecret(leftover, { now }).verdict).toBe('healthy');
    const edited = { ...base, versionCreated: { a: ago(2) } };
    expect(assessSecret(edited, { now }).ageDays).toBe(2);
  });
});

describe('labels', () => {
  it('names each label that moved, was added or was removed', () => {
    const before = {
      '11111111-x': ['AWSCURRENT'],
      '22222222-x': ['AWSPENDING'],
      '33333333-x': ['AWSPREVIOUS'],
    };
    const after = { '11111111-x': ['AWSPREVIOUS'], '22222222-x': ['AWSCURRENT'], '33333333-x': [] };
    expect(labelChanges(before, after)).toEqual([
      'AWSCURRENT moved 11111111 → 22222222',
      'AWSPENDING removed from 22222222',
      'AWSPREVIOUS moved 33333333 → 11111111',
    ]);
    expect(labelChanges(before, before)).toEqual([]);
  });
});

describe('formats', () => {
  it('quotes CSV fields that need it and defuses spreadsheet formulas', () => {
    expect(
      renderCsv(
        ['a', 'b'],
        [
          ['x,y', 'say "hi"'],
          ['=SUM(A1)', 'plain'],
        ],
      ),
    ).toBe('a,b\r\n"x,y","say ""hi"""\r\n\'=SUM(A1),plain\r\n');
  });

  it('aligns table columns', () => {
    expect(renderTable(['N', 'VERDICT'], [['app/db', 'healthy']])).toBe('N       VERDICT\napp/db  healthy\n');
  });
});

describe('AWS errors', () => {
  const flags = { output: 'table' as const };
  it("maps the service's errors and a missing region to exit 3 with a fix", () => {
    const notFound = awsFailure(
      Object.assign(new Error("can't find the secret"), { name: 'ResourceNotFoundException' }),
      'reading secret x',
      flags,
    );
    expect(notFound.exitCode).toBe(3);
    expect(notFound.fix).toContain('--region');
    const denied = awsFailure(
      Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }),
      'listing secrets',
      flags,
    );
    expect(denied.message).toBe('listing secrets: access denied (not authorized)');
    const region = awsFailure(new Error('Region is missing'), 'listing secrets', flags);
    expect(region.exitCode).toBe(3);
    expect(region.fix).toContain('--region');
  });

  it('treats only loopback URLs as local', () => {
    expect(isLoopbackUrl('http://127.0.0.1:4566')).toBe(true);
    expect(isLoopbackUrl('http://[::1]:4566')).toBe(true);
    expect(isLoopbackUrl('https://secretsmanager.eu-west-1.amazonaws.com')).toBe(false);
  });
});

describe('the program', () => {
  it('documents the exit codes in --help and exits 0', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    for (const command of ['rotate', 'status', 'audit', 'repair', 'check', 'demo', 'local-endpoint']) {
      expect(help.stdout).toContain(`  ${command} `);
    }
  });

  it('exits 2 with a suggestion for an unknown command or flag, and for no command at all', async () => {
    const typo = await cli(['stauts', 'x']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'stauts'");
    expect(typo.stderr).toContain('Did you mean status?');
    const flag = await cli(['status', 'x', '--max-ages', '3']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--max-ages'");
    const output = await cli(['audit', '--output', 'yaml']);
    expect(output.code).toBe(2);
    expect(output.stderr).toContain("option '--output <format>' argument 'yaml' is invalid");
    expect((await cli([])).code).toBe(2);
  });

  it('refuses a malformed --endpoint-url and --region before calling anything', async () => {
    const url = await cli(['status', 'x', '--endpoint-url', 'localhost:4566']);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('--endpoint-url must be an http:// or https:// URL, got "localhost:4566"');
    const region = await cli(['status', 'x', '--region', 'Europe West']);
    expect(region.code).toBe(2);
    expect(region.stderr).toContain('--region must be an AWS region');
  });
});
