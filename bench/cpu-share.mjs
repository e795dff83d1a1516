// Holds a process to the CPU share Lambda gives a function of a given memory size: Lambda allocates CPU
// in proportion to memory, one vCPU at 1,769 MB (AWS Lambda Developer Guide, "Configure Lambda function
// memory"), so 128 MB gets about 1/13.8 of one. The bench does it with a CFS quota in a cgroup of its
// own (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`), which needs root; where that is not possible it
// says why and the figure is left out. An approximation: how Lambda enforces its share is not public.
import { randomUUID } from 'node:crypto';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const ONE_VCPU_MB = 1769;
const PERIOD_US = 100_000;

async function writable(path) {
  try {
    await access(path, 2);
    return true;
  } catch {
    return false;
  }
}

/** cgroup v2: the cpu controller must be enabled for the children of the group we create ours in. */
async function cgroupV2(root, quotaUs) {
  const controllers = await readFile(join(root, 'cgroup.controllers'), 'utf8').catch(() => '');
  if (!controllers.split(/\s+/).includes('cpu')) return undefined;
  const subtree = await readFile(join(root, 'cgroup.subtree_control'), 'utf8').catch(() => '');
  if (!subtree.split(/\s+/).includes('cpu')) await writeFile(join(root, 'cgroup.subtree_control'), '+cpu');
  const dir = join(root, `secrets-rotator-bench-${randomUUID().slice(0, 8)}`);
  await mkdir(dir);
  await writeFile(join(dir, 'cpu.max'), `${quotaUs} ${PERIOD_US}`);
  return dir;
}

async function cgroupV1(root, quotaUs) {
  const dir = join(root, `secrets-rotator-bench-${randomUUID().slice(0, 8)}`);
  await mkdir(dir);
  await writeFile(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
  await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
  return dir;
}

/**
 * `{ hold(pid), close(), description }`, or `{ unavailable }` saying why this machine cannot do it.
 * Processes held in the group leave it when they exit; close() removes the emptied group.
 */
export async function lambdaCpuShare(memoryMb) {
  const quotaUs = Math.round((PERIOD_US * memoryMb) / ONE_VCPU_MB);
  const candidates = [
    ['/sys/fs/cgroup', cgroupV2],
    ['/sys/fs/cgroup/unified', cgroupV2],
    ['/sys/fs/cgroup/cpu', cgroupV1],
    ['/sys/fs/cgroup/cpu,cpuacct', cgroupV1],
  ];
  const reasons = [];
  for (const [root, create] of candidates) {
    if (!(await writable(root))) continue;
    try {
      const dir = await create(root, quotaUs);
      if (!dir) continue;
      return {
        description: `${memoryMb} MB share: a CFS quota of ${(quotaUs / 1000).toFixed(2)} ms CPU per ${PERIOD_US / 1000} ms (cgroup ${dir})`,
        hold: (pid) => writeFile(join(dir, 'cgroup.procs'), String(pid)),
        close: () => rmdir(dir).catch(() => {}),
      };
    } catch (error) {
      reasons.push(`${root}: ${error.code ?? error.message}`);
    }
  }
  return {
    unavailable: `no writable cgroup with a CPU controller (needs root on Linux)${reasons.length ? `; ${reasons.join('; ')}` : ''}`,
  };
}
