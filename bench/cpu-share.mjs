// Holds a process to the CPU share Lambda gives a function of a given memory size: Lambda allocates CPU
// in proportion to memory, one vCPU at 1,769 MB (AWS Lambda Developer Guide, "Configure Lambda function
// memory"), so 128 MB gets about 1/13.8 of one. The bench does it with a CFS quota in a cgroup of its
// own (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`), which needs root; where that is not possible it
// says why and the figure is left out. An approximation: how Lambda enforces its share is not public.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const ONE_VCPU_MB = 1769;
const PERIOD_US = 100_000;

async function writable(path) {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const words = async (path) => (await readFile(path, 'utf8').catch(() => '')).split(/\s+/);

/**
 * cgroup v2: the cpu controller must be on for the root's children already; turning it on would
 * change the machine for every other process, which a bench should not do.
 */
async function cgroupV2(root, dir, quotaUs) {
  if (!(await words(join(root, 'cgroup.controllers'))).includes('cpu')) return 'no cpu controller';
  if (!(await words(join(root, 'cgroup.subtree_control'))).includes('cpu')) {
    return `the cpu controller is not enabled in ${join(root, 'cgroup.subtree_control')}`;
  }
  await mkdir(dir);
  await writeFile(join(dir, 'cpu.max'), `${quotaUs} ${PERIOD_US}`);
}

async function cgroupV1(_root, dir, quotaUs) {
  await mkdir(dir);
  await writeFile(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
  await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
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
    const dir = join(root, `secrets-rotator-bench-${randomUUID().slice(0, 8)}`);
    const remove = () => rmdir(dir).catch(() => {});
    try {
      const refusal = await create(root, dir, quotaUs);
      if (refusal) {
        reasons.push(`${root}: ${refusal}`);
        continue;
      }
      return {
        description: `${memoryMb} MB share: a CFS quota of ${(quotaUs / 1000).toFixed(2)} ms CPU per ${PERIOD_US / 1000} ms (cgroup ${dir})`,
        hold: (pid) => writeFile(join(dir, 'cgroup.procs'), String(pid)),
        close: remove,
      };
    } catch (error) {
      await remove();
      reasons.push(`${root}: ${error.code ?? error.message}`);
    }
  }
  return {
    unavailable: `no writable cgroup with a CPU controller (needs root on Linux)${reasons.length ? `; ${reasons.join('; ')}` : ''}`,
  };
}
