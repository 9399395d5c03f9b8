// Reading README.md the way the tests need it: its fenced code blocks (with the marker comment before
// each), its links and images outside code, and the anchors its headings get (GitHub's and npm's rule).

export interface CodeBlock {
  lang: string; // the first word of the fence's info string ('ts', 'sh', ...)
  code: string;
  line: number; // 1-based line of the opening fence
  marker: string | null; // the text of an HTML comment on the line just before the fence, if any
}

export function codeBlocks(md: string): CodeBlock[] {
  const lines = md.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]);
    if (!open) continue;
    const fence = open[1];
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith(fence); i++) body.push(lines[i]);
    const prev = start > 0 ? /^<!--\s*(.*?)\s*-->\s*$/.exec(lines[start - 1]) : null;
    blocks.push({ lang: open[2], code: body.join('\n') + '\n', line: start + 1, marker: prev ? prev[1] : null });
  }
  return blocks;
}

/** The Markdown without its fenced code blocks and inline code spans (same line count). */
function prose(md: string): string {
  const lines = md.split('\n');
  let fence: string | null = null;
  return lines.map((l) => {
    const f = /^(`{3,}|~{3,})/.exec(l);
    if (fence) {
      if (f && l.startsWith(fence)) fence = null;
      return '';
    }
    if (f) {
      fence = f[1];
      return '';
    }
    return l.replace(/`[^`]*`/g, '');
  }).join('\n');
}

export interface Link {
  target: string;
  image: boolean;
  line: number;
}

/** Every [text](target) and ![alt](target) outside code, and every <img src="..."> / <a href="...">. */
export function links(md: string): Link[] {
  const out: Link[] = [];
  prose(md).split('\n').forEach((l, i) => {
    for (const m of l.matchAll(/(!?)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[2], image: m[1] === '!', line: i + 1 });
    for (const m of l.matchAll(/<(img|a)\s[^>]*?(?:src|href)="([^"]+)"/g)) out.push({ target: m[2], image: m[1] === 'img', line: i + 1 });
  });
  return out;
}

/** The anchors of the headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const l of prose(md).split('\n')) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    if (!h) continue;
    const base = h[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}
