// Every `volback …` command line that an error hint, a message or a document tells a person to run
// names a command that exists, with flags it takes.
import fs from 'node:fs';
import path from 'node:path';
import { COMMANDS } from '../../src/cli/commands';
import { GLOBAL_FLAGS, flagsOf, type CommandSpec } from '../../src/cli/framework';

const ROOT = path.join(__dirname, '../..');

function files(dir: string, ext: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'native' ? [] : files(rel, ext);
    return e.name.endsWith(ext) ? [rel] : [];
  });
}

/** `volback …` in backticks, and lines of fenced shell blocks that start with volback. */
function references(text: string): string[] {
  const found = [...text.matchAll(/`(volback(?: [^`\n]*)?)`/g)].map((m) => m[1] as string);
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of (block[1] as string).split('\n')) {
      for (const part of line.replace(/#.*$/, '').split(/;|&&/)) {
        if (part.trim().startsWith('volback ')) found.push(part.trim());
      }
    }
  }
  return found;
}

/** Why a command line is wrong, or undefined. Placeholders (`<set-id>`, `${name}`, `DIR`) pass. */
function problem(line: string): string | undefined {
  let tokens = line.replace(/\\+$/, '').split(/\s+/).slice(1);
  const pipe = tokens.indexOf('|');
  if (pipe >= 0) tokens = tokens.slice(0, pipe);
  // Global flags may come before the command (`volback -c URI backup list`).
  while (
    tokens[0]?.startsWith('-') &&
    tokens.length > 1 &&
    !['--help', '-h', '--version'].includes(tokens[0])
  ) {
    const flag = Object.entries(GLOBAL_FLAGS).find(
      ([n, f]) => tokens[0] === `--${n}` || tokens[0] === `-${f.short}`,
    );
    if (!flag) return `no global flag ${tokens[0]}`;
    tokens = tokens.slice(flag[1].type === 'string' ? 2 : 1);
  }
  const first = tokens[0];
  if (first === undefined || /^[<[$]/.test(first)) return undefined; // a synopsis or a built string
  // `backup create|list|show` in a file's first line names several verbs at once.
  const alternatives = (tokens[1] ?? '').includes('|') && !tokens[1]?.startsWith('-');
  if (alternatives) {
    for (const verb of (tokens[1] as string).split('|')) {
      const why = problem(['volback', first, verb].join(' '));
      if (why) return why;
    }
    return undefined;
  }
  if (first === 'help') {
    const topic = tokens.slice(1).filter((w) => !w.startsWith('-'));
    if (
      topic.length === 0 ||
      topic[0]?.startsWith('$') ||
      resolve(topic).spec ||
      COMMANDS.some((c) => c.path[0] === topic[0] && topic.length === 1)
    )
      return undefined;
    return `no help topic '${topic.join(' ')}'`;
  }
  const { spec, rest } = resolve(tokens);
  if (!spec && !(tokens.length === 1 && COMMANDS.some((c) => c.path[0] === first)) && !first.startsWith('-'))
    return `no command '${tokens.join(' ')}'`;
  const flags: Record<string, { short?: string }> = spec
    ? flagsOf(spec)
    : { ...GLOBAL_FLAGS, version: {}, help: { short: 'h' } };
  for (const token of rest) {
    if (/^--[a-z]/.test(token)) {
      const name = token.slice(2).replace(/[=.,:)].*$/, '');
      if (!(name in flags) && name !== 'help') return `no flag --${name}`;
    } else if (/^-[a-z]$/.test(token)) {
      if (!Object.values(flags).some((f) => f.short === token[1])) return `no flag ${token}`;
    }
  }
  return undefined;
}

function resolve(words: string[]): { spec?: CommandSpec; rest: string[] } {
  for (let n = Math.min(words.length, 2); n > 0; n--) {
    const spec = COMMANDS.find((c) => c.path.join(' ') === words.slice(0, n).join(' '));
    if (spec) return { spec, rest: words.slice(n) };
  }
  return { rest: words };
}

const sources = [
  ...files('src', '.ts'),
  ...files('pool-drivers', '.ts'),
  ...files('docs', '.md'),
  'README.md',
];

test('the checker tells right from wrong', () => {
  expect(problem('volback backup restore 1a2b3c4d --define --name vm1-copy --new-uuid')).toBeUndefined();
  expect(problem('volback backup list --json | jq ".sets[].id"')).toBeUndefined();
  expect(problem('volback --version --json')).toBeUndefined();
  expect(problem('volback help backup create')).toBeUndefined();
  expect(problem('volback -c qemu:///system backup list --json')).toBeUndefined();
  expect(problem('volback backup create|list|show|verify')).toBeUndefined();
  expect(problem('volback pool init ${name} --path DIR\\')).toBeUndefined();
  expect(problem('volback catalog check')).toBe("no command 'catalog check'");
  expect(problem('volback prune --dry-run')).toBe("no command 'prune --dry-run'");
  expect(problem('volback backup list|frob')).toBe("no command 'backup frob'");
  expect(problem('volback backup restore 1a2b --domain')).toBe('no flag --domain');
});

test.each(sources)('%s names only commands and flags that exist', (file) => {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const wrong = references(text)
    .map((line) => ({ line, why: problem(line) }))
    .filter((r) => r.why !== undefined);
  expect(wrong).toEqual([]);
});
