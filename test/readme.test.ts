// The README as a newcomer meets it: its links work wherever it is read (GitHub, the registry's page,
// node_modules), package.json names the repository it links to, the messages it quotes are the ones
// the calls give, and its TypeScript examples compile as a user would compile them: every ```ts block
// is a module importing 'channelconv' (this package, its built dist/ types), type-checked under strict
// with TypeScript 5.9 (the devDependency `typescript`) and TypeScript 7 (`typescript7`,
// npm:typescript@7), in each moduleResolution the README promises. A block that is not meant to
// compile says so on the line before its fence: `<!-- readme-ts: fails TSxxxx (why) -->` (it must
// fail, with that error) or `<!-- readme-ts: skip (why) -->`. The blocks that compile are also run
// (ESM, Node): they must not throw. Not run on staged copies of the package (sanitize.sh, test-arm64.sh):
// it needs the README and the git checkout.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as cc from '../lib/index';
import { anchors, codeBlocks, links, type CodeBlock } from './markdown';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

interface Checked { block: CodeBlock; file: string; fails: string | null }

/** The ts blocks and what each must do; throws on a marker that is not one of the two forms. */
function tsBlocks(md: string): Checked[] {
  return codeBlocks(md).filter((b) => b.lang === 'ts' || b.lang === 'typescript').flatMap((block, i) => {
    const m = block.marker === null ? null : /^readme-ts:\s*(?:(skip)|fails\s+(TS\d+))\s+\(.+\)$/.exec(block.marker);
    if (block.marker !== null && block.marker.startsWith('readme-ts') && !m) {
      throw new Error(`README.md:${block.line}: marker "${block.marker}" is neither "readme-ts: skip (why)" nor "readme-ts: fails TSnnnn (why)"`);
    }
    if (m && m[1]) return [];
    return [{ block, file: `block${i}_line${block.line}.mts`, fails: m ? m[2] : null }];
  });
}

const compilers = [
  { name: 'TypeScript 5.9', tsc: path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), major: '5.9',
    modes: [['nodenext', 'nodenext'], ['node16', 'node16'], ['esnext', 'bundler'], ['esnext', 'node10']] },
  { name: 'TypeScript 7', tsc: path.join(root, 'node_modules', 'typescript7', 'bin', 'tsc'), major: '7.',
    modes: [['nodenext', 'nodenext'], ['node16', 'node16'], ['esnext', 'bundler']] },
];

let dir = '';
let checked: Checked[] = [];

function tsc(compiler: string, args: string[]) {
  const r = spawnSync(process.execPath, [compiler, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

/** Errors by file name: 'block3_line140.mts' -> ['TS2345', ...]. */
function errorsByFile(output: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const m of output.matchAll(/^(\S+?\.mts)\(\d+,\d+\): error (TS\d+)/gm)) {
    const f = path.basename(m[1]);
    map.set(f, [...(map.get(f) ?? []), m[2]]);
  }
  return map;
}

beforeAll(() => {
  checked = tsBlocks(readme);
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'channelconv-readme-')));
  // 'channelconv' resolves to this package (its package.json exports and dist/), as in node_modules.
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'channelconv'), 'dir');
  fs.symlinkSync(path.join(root, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'), 'dir');
  for (const c of checked) fs.writeFileSync(path.join(dir, c.file), c.block.code);
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("the README's TypeScript blocks", () => {
  it('are found, and at least one is marked as failing on purpose', () => {
    expect(checked.length).toBeGreaterThanOrEqual(3);
    expect(checked.some((c) => c.fails)).toBe(true);
    expect(checked.some((c) => /Conv2dOptions/.test(c.block.code) && /as const/.test(c.block.code) && !c.fails)).toBe(true);
  });

  it('an unknown marker is refused', () => {
    expect(() => tsBlocks('<!-- readme-ts: maybe -->\n```ts\nx\n```\n')).toThrow(/neither/);
    expect(tsBlocks('<!-- readme-ts: skip (a fragment) -->\n```ts\nx\n```\n')).toEqual([]);
  });

  for (const compiler of compilers) {
    for (const [module, resolution] of compiler.modes) {
      it(`type-check with ${compiler.name}, module ${module}, moduleResolution ${resolution}`, () => {
        const version = tsc(compiler.tsc, ['--version']).output;
        expect(version, `${compiler.tsc}`).toContain(`Version ${compiler.major}`);
        const r = tsc(compiler.tsc, [
          '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022', '--types', 'node', '--skipLibCheck', 'false',
          '--module', module, '--moduleResolution', resolution, ...checked.map((c) => c.file),
        ]);
        const errors = errorsByFile(r.output);
        for (const c of checked) {
          const got = errors.get(c.file) ?? [];
          if (c.fails) expect(got, `README.md:${c.block.line} must fail with ${c.fails}:\n${r.output}`).toContain(c.fails);
          else expect(got, `README.md:${c.block.line}:\n${r.output}`).toEqual([]);
        }
        // Nothing else went wrong (an option the compiler does not know, a missing file).
        const stray = r.output.split('\n').filter((l) => l.trim() && !/^\S+?\.mts\(\d+,\d+\): error TS\d+/.test(l) && !/^\s/.test(l));
        expect(stray, r.output).toEqual([]);
      });
    }
  }

  it('the blocks that compile also run under Node', () => {
    const ok = checked.filter((c) => !c.fails);
    const out = path.join(dir, 'out');
    const r = tsc(compilers[0].tsc, ['--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--types', 'node', '--outDir', out, ...ok.map((c) => c.file)]);
    expect(r.status, r.output).toBe(0);
    for (const c of ok) {
      const run = spawnSync(process.execPath, [path.join(out, c.file.replace(/\.mts$/, '.mjs'))], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(run.status, `README.md:${c.block.line}: ${run.stderr}`).toBe(0);
    }
  });
});

describe('the messages the README quotes are the ones the calls give', () => {
  const t = (shape: number[]) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape });
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('no error');
  };
  const quoted = (text: string, got: string) => {
    expect(readme.replace(/\s+/g, ' '), 'README quotes it').toContain(`\`${text}`); // inline code may wrap
    expect(got).toContain(text);
  };

  it('channel mismatch: plain call, prepared layer, NHWC hint; bias length', () => {
    const w = t([4, 3, 3, 3]);
    const plain = message(() => cc.conv2dSync(t([2, 5, 8, 8]), w));
    quoted('the input has 5 channels (input.shape[1]) but the weight expects 3 (weight.shape[1] = 3 per group)', plain);
    expect(plain).not.toMatch(/NHWC/);
    quoted('the input has 5 channels; this layer expects 3', message(() => cc.createConv2d(w).runSync(t([2, 5, 8, 8]))));
    quoted("if the input is NHWC, pass layout: 'NHWC'", message(() => cc.conv2dSync(t([2, 8, 8, 3]), w)));
    quoted('options.bias has 3 elements, expected 4 (one per output channel, weight.shape[0])',
      message(() => cc.conv2dSync(t([2, 3, 8, 8]), w, { bias: new Float32Array(3) })));
  });

  it('a gradOutput of the wrong shape', () => {
    quoted("gradOutput.shape must be [1, 4, 8, 8], the forward output's shape for this input, weight and options; got [1, 4, 6, 6]",
      message(() => cc.conv2dBackwardSync(t([1, 3, 8, 8]), t([4, 3, 3, 3]), t([1, 4, 6, 6]), { padding: 1 })));
  });

  it("CUDA's 'no driver' reason, where this machine has no driver", () => {
    const info = cc.backendInfo().cuda;
    if (!info.compiled || info.available || !/^no NVIDIA driver found/.test(info.reason ?? '')) return;
    quoted(info.reason!, info.reason!);
    quoted(info.reason!.slice(0, info.reason!.indexOf(':')), message(() => cc.conv2dSync(t([1, 1, 1, 1]), t([1, 1, 1, 1]), { device: 'cuda' })));
  });
});

// The canonical home; the README's links into it must name files this repository has, so that they
// work on GitHub, on the registry's page and in node_modules (where docs/ is not shipped).
const REPO = 'channelconv/channelconv';

describe('package metadata and README links', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

  it('no command installs the unpublished name: `npm install channelconv` only where the README says it is not published yet', () => {
    const lines = readme.split('\n');
    const uses = lines.map((l, i) => [l, i + 1] as const).filter(([l]) => /\bnpm (install|i|add) channelconv(?![\w.@/-])/.test(l));
    expect(uses.length).toBeGreaterThan(0);
    for (const [l, n] of uses) expect(l, `README.md:${n}`).toMatch(/not on the npm registry|published/);
  });

  it('package.json names the repository, its home page and where to file issues', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: `git+https://github.com/${REPO}.git` });
    expect(pkg.homepage).toBe(`https://github.com/${REPO}#readme`);
    expect(pkg.bugs).toEqual({ url: `https://github.com/${REPO}/issues` });
  });

  it('every README link is an anchor of a heading, or absolute; links into the repository name tracked files', () => {
    const tracked = new Set(execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n'));
    const heads = anchors(readme);
    const found = links(readme);
    expect(found.length).toBeGreaterThan(5);
    const blob = new RegExp(`^https://github\\.com/${REPO}/(?:blob|tree)/main/([^#?]+)`);
    const raw = new RegExp(`^https://raw\\.githubusercontent\\.com/${REPO}/main/([^#?]+)`);
    for (const l of found) {
      const where = `README.md:${l.line}: ${l.target}`;
      if (l.target.startsWith('#')) {
        expect(heads.has(l.target.slice(1)), where).toBe(true);
        continue;
      }
      expect(l.target, `${where} (relative: breaks in node_modules and on the registry page)`).toMatch(/^https?:\/\//);
      const inRepo = blob.exec(l.target) || raw.exec(l.target);
      if (l.image) expect(raw.test(l.target), `${where}: images from raw.githubusercontent.com`).toBe(true);
      if (inRepo) expect(tracked.has(decodeURIComponent(inRepo[1])), `${where}: not a file of this repository`).toBe(true);
    }
    // The README shows the pictures and links the docs (the test sees them).
    expect(found.filter((l) => l.image).length).toBeGreaterThanOrEqual(2);
  });
});
