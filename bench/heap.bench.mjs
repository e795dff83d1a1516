// What the heap a warm function keeps after a full collection is made of, as rotations go on: the
// deployed zip in one process at Lambda's 128 MB flags, a V8 heap snapshot after gc() at each mark,
// split into compiled code (machine code, bytecode, feedback and deoptimisation data: V8's own
// "code" nodes, and the lists tying optimised code to the object shapes it assumes) and everything
// else, the function's objects. Growth in the first is the JIT optimising more functions as they get
// hot, and levels off; growth in the second would be a leak.
//
// `npm run bench -- heap` runs this file alone.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLambdas } from '../scripts/build-lambdas.ts';
import { rotateSecret } from '../src/testing/index.ts';
import { readAtMarks, setUpDeployed } from './deployed-setup.mjs';

/** The engine alone, the two database drivers, and an HTTP provider. */
const HANDLERS = ['random-secret', 'postgres-single-user', 'mysql-single-user', 'http-api-key'];

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(2);

/**
 * Self sizes in a heap snapshot: V8's "code" nodes and the lists of optimised code that depends on
 * each object shape (reached through `dependent_code` edges: JIT bookkeeping), and all the others.
 */
async function splitSnapshot(path) {
  const snapshot = JSON.parse(await readFile(path, 'utf8'));
  const { meta } = snapshot.snapshot;
  const fields = meta.node_fields;
  const edgeFields = meta.edge_fields;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const typeAt = fields.indexOf('type');
  const sizeAt = fields.indexOf('self_size');
  const edgeCountAt = fields.indexOf('edge_count');
  const edgeTypeAt = edgeFields.indexOf('type');
  const edgeNameAt = edgeFields.indexOf('name_or_index');
  const edgeToAt = edgeFields.indexOf('to_node');
  const { nodes, edges, strings } = snapshot;

  const jitBookkeeping = new Set();
  let edge = 0;
  for (let node = 0; node < nodes.length; node += fields.length) {
    for (let count = nodes[node + edgeCountAt]; count > 0; count--, edge += edgeFields.length) {
      const named = edgeTypes[edges[edge + edgeTypeAt]] === 'internal';
      if (named && strings[edges[edge + edgeNameAt]] === 'dependent_code')
        jitBookkeeping.add(edges[edge + edgeToAt]);
    }
  }
  let code = 0;
  let objects = 0;
  for (let node = 0; node < nodes.length; node += fields.length) {
    const size = nodes[node + sizeAt];
    if (types[nodes[node + typeAt]] === 'code' || jitBookkeeping.has(node)) code += size;
    else objects += size;
  }
  return { code, objects };
}

async function measure(lambda, workDir, marks) {
  const name = lambda.name;
  const { client, secretId, env, dir, close } = await setUpDeployed(lambda, workDir, 'heap');
  try {
    let done = 0;
    const byMark = await readAtMarks({
      dir,
      env,
      marks,
      rotate: async (deployed, count) => {
        for (const last = done + count; done < last; done++) {
          const result = await rotateSecret({ client, secretId, handler: deployed.handler });
          if (!result.ok) throw new Error(`${name}: rotation ${done + 1} failed: ${result.error}`);
        }
      },
      read: async (deployed, mark) => {
        const path = join(workDir, `${name}-${mark}.heapsnapshot`);
        const memory = await deployed.memory({ heapSnapshot: path });
        const split = await splitSnapshot(path);
        await rm(path);
        return { heapAfterGcKb: memory.heapAfterGcKb, ...split };
      },
    });
    const row = { handler: name };
    for (const mark of marks) {
      row[`heap MB @${mark}`] = mb(byMark[mark].heapAfterGcKb * 1024);
      row[`code MB @${mark}`] = mb(byMark[mark].code);
      row[`objects MB @${mark}`] = mb(byMark[mark].objects);
    }
    return row;
  } finally {
    await close();
  }
}

export default async function bench(options) {
  const workDir = await mkdtemp(join(tmpdir(), 'bench-heap-'));
  try {
    const build = await buildLambdas({
      outDir: join(workDir, 'dist'),
      only: HANDLERS,
      enforceBudgets: false,
    });
    const rows = [];
    for (const lambda of build.lambdas) {
      rows.push(await measure(lambda, workDir, options.memoryRotations));
    }
    return {
      title: "Heap after a full collection: compiled code and the function's objects",
      rows,
      notes: [
        '',
        'heap: heapUsed after gc() in one warm function (0 ms latency) after that many rotations.',
        "code, objects: self sizes in a heap snapshot taken right after; code is V8's code nodes",
        '  (machine code, bytecode, feedback, deoptimisation data) and the dependent-code lists of',
        '  object shapes, objects all the rest.',
        '  The snapshot counts a little differently from heapUsed; compare each column along its row.',
      ],
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
