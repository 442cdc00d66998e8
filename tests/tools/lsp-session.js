// Drive yaml-language-server (tests/tools/node_modules) over LSP, as an editor would.
// Usage: node lsp-session.js REQUEST.json
// REQUEST: {root, settings, open: [{path, text}], diagnose: [path], complete: [{path, line, character}]}
// Prints one JSON object: {diagnostics: {path: [Diagnostic]}, completions: [[label]]}.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const bin = path.join(__dirname, 'node_modules', '.bin', 'yaml-language-server');
const server = spawn(bin, ['--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
const uri = (p) => pathToFileURL(p).href;

let nextId = 1;
const pending = new Map();
const diagnostics = new Map();
const diagWaiters = [];

function send(msg) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}
function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
const notify = (method, params) => send({ method, params });

let buf = Buffer.alloc(0);
server.stdout.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    const sep = buf.indexOf('\r\n\r\n');
    if (sep < 0) return;
    const m = /Content-Length: (\d+)/i.exec(buf.slice(0, sep).toString());
    const len = Number(m[1]);
    if (buf.length < sep + 4 + len) return;
    const msg = JSON.parse(buf.slice(sep + 4, sep + 4 + len).toString('utf8'));
    buf = buf.slice(sep + 4 + len);
    handle(msg);
  }
});

function handle(msg) {
  if (msg.method && msg.id !== undefined) {
    // A request from the server: the settings it asks for, and acknowledgements.
    const result =
      msg.method === 'workspace/configuration'
        ? msg.params.items.map((i) => (i.section ? req.settings[i.section] ?? null : req.settings))
        : null;
    send({ id: msg.id, result });
  } else if (msg.method === 'textDocument/publishDiagnostics') {
    diagnostics.set(msg.params.uri, msg.params.diagnostics);
    diagWaiters.forEach((w) => w());
  } else if (msg.id !== undefined && pending.has(msg.id)) {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(JSON.stringify(msg.error)));
    else p.resolve(msg.result);
  }
}

// The diagnostics of `u` once some are published (or, with `anyCount`, once the server has
// validated it at all: its schema is loaded), or what there is after `ms`.
function waitDiagnostics(u, ms, anyCount = false) {
  return new Promise((resolve) => {
    const deadline = setTimeout(() => resolve(diagnostics.get(u) ?? null), ms);
    const check = () => {
      const d = diagnostics.get(u);
      if (d && (anyCount || d.length > 0)) {
        clearTimeout(deadline);
        resolve(d);
      }
    };
    diagWaiters.push(check);
    check();
  });
}

async function main() {
  const root = uri(req.root);
  await request('initialize', {
    processId: process.pid,
    rootUri: root,
    workspaceFolders: [{ uri: root, name: path.basename(req.root) }],
    capabilities: {
      workspace: { configuration: true, didChangeConfiguration: { dynamicRegistration: true } },
      textDocument: {
        completion: { completionItem: { snippetSupport: true } },
        publishDiagnostics: {},
      },
    },
  });
  notify('initialized', {});
  notify('workspace/didChangeConfiguration', { settings: req.settings });
  for (const doc of req.open) {
    notify('textDocument/didOpen', {
      textDocument: { uri: uri(doc.path), languageId: 'yaml', version: 1, text: doc.text },
    });
  }
  const out = { diagnostics: {}, completions: [] };
  for (const p of req.diagnose) {
    out.diagnostics[p] = await waitDiagnostics(uri(p), 20000);
  }
  for (const c of req.complete) {
    await waitDiagnostics(uri(c.path), 20000, true);
    const r = await request('textDocument/completion', {
      textDocument: { uri: uri(c.path) },
      position: { line: c.line, character: c.character },
    });
    const items = Array.isArray(r) ? r : (r?.items ?? []);
    out.completions.push(items.map((i) => ({ label: i.label, insertText: i.insertText ?? null })));
  }
  process.stdout.write(JSON.stringify(out));
  await request('shutdown', null).catch(() => {});
  notify('exit', null);
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => {
  console.error(`lsp-session: ${e.stack || e}`);
  process.exit(1);
});
setTimeout(() => {
  console.error('lsp-session: no answer from yaml-language-server within 60s');
  process.exit(1);
}, 60000).unref();
