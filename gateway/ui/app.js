// The faas portal: a page per hash route (#/ functions, #/deploy, #/fn/<name>),
// built from the gateway's own API with the browser's basic-auth credentials.
// Every text that comes from the gateway or a function is set with
// textContent, never parsed as HTML.
'use strict';

(() => {
  const main = document.getElementById('main');
  const announcer = document.getElementById('announce');
  const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const WINDOW_MS = 15 * 60 * 1000;
  const LOG_LINES = 500;
  const SHOWN_BYTES = 64 * 1024;

  // ---- small helpers -------------------------------------------------------

  /** An element with attributes (on* are listeners) and children (strings become text). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'text') node.textContent = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function announce(text) {
    announcer.textContent = '';
    window.setTimeout(() => { announcer.textContent = text; }, 20);
  }

  /** An API answer that is not 2xx: its status and the gateway's one line. */
  class ApiError extends Error {
    constructor(status, line) {
      super(line || `HTTP ${status}`);
      this.status = status;
    }
  }

  async function request(method, path, options = {}) {
    // From the origin: a page opened with the credentials in its address
    // (user:password@host) would otherwise resolve relative URLs with them,
    // which fetch refuses; the browser sends the credentials it was given.
    return fetch(new URL(path, window.location.origin), {
      method,
      body: options.body,
      headers: options.headers,
      signal: options.signal,
      credentials: 'same-origin',
      cache: 'no-store',
    });
  }

  async function failure(response) {
    const text = (await response.text()).trim();
    return new ApiError(response.status, text.split('\n')[0] || `HTTP ${response.status}`);
  }

  async function getJson(path, signal) {
    const response = await request('GET', path, { signal });
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  async function sendJson(method, path, value) {
    const response = await request(method, path, {
      body: JSON.stringify(value),
      headers: { 'Content-Type': 'application/json' },
    });
    if (!response.ok) throw await failure(response);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  function fnPath(name) {
    return encodeURIComponent(name);
  }

  function when(text) {
    if (!text) return '';
    const d = new Date(text);
    return Number.isNaN(d.getTime()) ? text : d.toLocaleTimeString();
  }

  /** The random end of a call id (ids the gateway makes begin with the time). */
  function shortId(id) {
    return id ? id.slice(-12) : '';
  }

  /** Words as a shell splits them: quotes and backslashes honoured. */
  function shellWords(text) {
    const words = [];
    let word = null;
    let quote = null;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quote) {
        if (c === quote) quote = null;
        else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
        else word += c;
      } else if (c === '"' || c === "'") {
        quote = c;
        word = word || '';
      } else if (c === '\\' && i + 1 < text.length) {
        word = (word || '') + text[++i];
      } else if (/\s/.test(c)) {
        if (word !== null) words.push(word);
        word = null;
      } else {
        word = (word || '') + c;
      }
    }
    if (quote) throw new Error(`unclosed ${quote} in the command`);
    if (word !== null) words.push(word);
    return words;
  }

  function quoteWord(word) {
    return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
  }

  /** KEY=VALUE lines as an object. */
  function pairs(text, what) {
    const out = {};
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line) continue;
      const at = line.indexOf('=');
      if (at < 1) throw new Error(`${what}: "${line}" is not KEY=VALUE`);
      out[line.slice(0, at).trim()] = line.slice(at + 1);
    }
    return out;
  }

  function pairsText(object) {
    return Object.entries(object || {}).map(([k, v]) => `${k}=${v}`).join('\n');
  }

  async function copy(text, button) {
    let done = false;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        done = true;
      } catch (_) { /* fall back below */ }
    }
    if (!done) {
      const area = el('textarea', { readonly: true, class: 'visually-hidden' });
      area.value = text;
      document.body.append(area);
      area.select();
      try { done = document.execCommand('copy'); } catch (_) { done = false; }
      area.remove();
    }
    const said = done ? 'Copied' : 'Copy failed: select the address by hand';
    button.textContent = done ? 'Copied' : 'Copy';
    announce(said);
    window.setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  }

  function addressBlock(address) {
    const button = el('button', { type: 'button', class: 'small secondary copy', 'aria-label': `Copy the address ${address}` }, 'Copy');
    button.addEventListener('click', () => copy(address, button));
    return el('span', { class: 'address' }, el('code', { class: 'call-address' }, address), button);
  }

  function commandOf(f) {
    return f.mode === 'per-call' ? (f.command || []).map(quoteWord).join(' ') : (f.envProcess || '');
  }

  // ---- views and their lifetime ---------------------------------------------

  /** What a view started: aborted when the next view comes. */
  let current = null;

  function lifetime() {
    if (current) current.stop();
    const controller = new AbortController();
    const timers = [];
    current = {
      signal: controller.signal,
      every(ms, fn) {
        let running = false;
        const tick = async () => {
          if (running || controller.signal.aborted) return;
          running = true;
          try { await fn(); } finally { running = false; }
        };
        tick();
        timers.push(window.setInterval(tick, ms));
      },
      /** Runs `fn` again and again, waiting between runs the milliseconds it answers. */
      async repeat(fn) {
        while (!controller.signal.aborted) {
          const wait = await fn();
          await new Promise((resolve) => timers.push(window.setTimeout(resolve, wait)));
        }
      },
      stop() {
        controller.abort();
        timers.forEach((t) => { window.clearInterval(t); window.clearTimeout(t); });
      },
    };
    return current;
  }

  function route() {
    const hash = window.location.hash || '#/';
    if (!hash.startsWith('#/')) return;
    const life = lifetime();
    main.replaceChildren();
    const parts = hash.slice(2).split('/');
    if (parts[0] === 'fn' && parts[1]) functionView(life, decodeURIComponent(parts[1]));
    else if (parts[0] === 'deploy') deployView();
    else functionsView(life);
    const h1 = main.querySelector('h1');
    if (h1) document.title = `${h1.textContent} · faas`;
  }

  // ---- #/ : the functions --------------------------------------------------

  const COLUMNS = ['Name', 'Mode', 'Image', 'Command', 'Replicas', 'Invocations', 'Pending', 'Running', 'Finished', 'Failed', 'Address'];

  function functionsView(life) {
    const problem = el('p', { class: 'error', role: 'alert', id: 'functions-error' });
    const body = el('tbody');
    const empty = el('p', { class: 'muted', id: 'functions-empty', hidden: true }, 'No functions yet. ', el('a', { href: '#/deploy' }, 'Deploy one'), '.');
    append(main, [
      el('h1', {}, 'Functions'),
      problem,
      el('section', { class: 'panel' },
        el('div', { class: 'scroll' }, el('table', { class: 'cards', id: 'functions' },
          el('thead', {}, el('tr', {}, COLUMNS.map((c) => el('th', { scope: 'col', class: ['Replicas', 'Invocations', 'Pending', 'Running', 'Finished', 'Failed'].includes(c) ? 'num' : null }, c)))),
          body)),
        empty),
    ]);
    life.every(3000, async () => {
      try {
        const functions = await getJson('/system/functions', life.signal);
        const counts = await Promise.all(functions.map((f) =>
          getJson(`/system/function/${fnPath(f.name)}/status`, life.signal).catch(() => null)));
        body.replaceChildren(...functions.map((f, i) => functionRow(f, counts[i])));
        empty.hidden = functions.length > 0;
        problem.textContent = '';
      } catch (e) {
        if (!life.signal.aborted) problem.textContent = `Cannot list the functions: ${e.message}`;
      }
    });
  }

  function functionRow(f, counts) {
    const n = (key) => (counts ? counts[key] : '–');
    const cell = (label, content, cls) => el('td', { 'data-label': label, class: cls }, content);
    return el('tr', { 'data-name': f.name },
      cell('Name', el('a', { href: `#/fn/${fnPath(f.name)}`, class: 'fn-link' }, f.name)),
      cell('Mode', f.mode),
      cell('Image', f.image),
      cell('Command', el('code', {}, commandOf(f))),
      cell('Replicas', `${f.replicas}/${f.availableReplicas}`, 'num'),
      cell('Invocations', String(f.invocationCount), 'num'),
      cell('Pending', String(n('Pending')), 'num'),
      cell('Running', String(n('Running')), 'num'),
      cell('Finished', String(n('Finished')), 'num'),
      cell('Failed', String(n('Failed')), 'num'),
      cell('Address', addressBlock(f.address)));
  }

  // ---- #/deploy and a function's edit form --------------------------------------

  function deployView() {
    append(main, [el('h1', {}, 'Deploy a function'), el('section', { class: 'panel' }, deployForm(null))]);
  }

  function field(id, label, input, hint) {
    return el('div', { class: 'field' }, el('label', { for: id }, label), input, hint ? el('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
  }

  /** The deploy form, or for `existing` (a function as listed) its update and removal. */
  function deployForm(existing) {
    const f = existing || {};
    const input = (id, attrs) => el('input', Object.assign({ id, name: id, type: 'text', autocomplete: 'off' }, attrs));
    const name = input('f-name', { required: true, pattern: NAME.source, value: f.name, readonly: !!existing, 'aria-describedby': 'f-name-hint' });
    const image = input('f-image', { required: !existing, value: f.image });
    const mode = el('select', { id: 'f-mode', name: 'f-mode' },
      el('option', { value: '' }, 'from the command (per-call if a command is given)'),
      el('option', { value: 'per-call' }, 'per-call: a new process or container per call'),
      el('option', { value: 'service' }, 'service: replicas with the watchdog'));
    mode.value = existing ? f.mode : '';
    const command = input('f-command', { value: existing && f.mode === 'per-call' ? commandOf(f) : '' });
    const envProcess = input('f-envprocess', { value: f.envProcess || '' });
    const env = el('textarea', { id: 'f-env', name: 'f-env', rows: 3 });
    env.value = pairsText(f.envVars);
    const labels = el('textarea', { id: 'f-labels', name: 'f-labels', rows: 3 });
    labels.value = pairsText(f.labels);
    const timeout = input('f-timeout', { type: 'number', min: 1, max: 86400, value: f.timeout || '' });
    const concurrency = input('f-concurrency', { type: 'number', min: 1, value: f.maxConcurrency || '' });
    const refresh = el('input', { type: 'checkbox', id: 'f-refresh' });
    const result = el('p', { id: 'form-result', class: 'ok', role: 'status' });
    const problem = el('p', { id: 'form-error', class: 'error', role: 'alert' });

    function deployment() {
      const d = { service: name.value.trim() };
      if (!NAME.test(d.service)) throw new Error('the name must be lower-case letters, digits and dashes, at most 63');
      if (image.value.trim()) d.image = image.value.trim();
      if (mode.value) d.mode = mode.value;
      const words = shellWords(command.value);
      if (words.length) d.command = words;
      if (envProcess.value.trim()) d.envProcess = envProcess.value.trim();
      d.envVars = pairs(env.value, 'Environment');
      d.labels = pairs(labels.value, 'Labels');
      if (timeout.value) d.timeout = Number(timeout.value);
      if (concurrency.value) d.maxConcurrency = Number(concurrency.value);
      if (existing && refresh.checked) d.refresh = true;
      return d;
    }

    async function submit(event) {
      event.preventDefault();
      result.textContent = '';
      problem.textContent = '';
      let d;
      try { d = deployment(); } catch (e) { refused(e.message); return; }
      try {
        const listed = await sendJson(existing ? 'PUT' : 'POST', '/system/functions', d);
        result.textContent = existing ? `${listed.name} updated` : `${listed.name} deployed`;
        announce(result.textContent);
        if (!existing) window.location.hash = `#/fn/${fnPath(listed.name)}`;
        else route();
      } catch (e) {
        refused(e.message);
      }
    }

    /** Shows why the gateway (or the form) refused, where it can be seen. */
    function refused(line) {
      problem.textContent = line;
      problem.scrollIntoView({ block: 'nearest' });
    }

    const removal = el('div', { class: 'row', id: 'remove-confirm', hidden: true });
    if (existing) {
      const force = el('input', { type: 'checkbox', id: 'f-force' });
      append(removal, [
        el('span', {}, `Remove ${f.name}?`),
        el('label', {}, force, ' kill its running calls'),
        el('button', { type: 'button', class: 'danger', id: 'remove-yes', onclick: async () => {
          problem.textContent = '';
          try {
            await sendJson('DELETE', `/system/functions${force.checked ? '?force=true' : ''}`, { functionName: f.name });
            announce(`${f.name} removed`);
            window.location.hash = '#/';
          } catch (e) {
            refused(e.message);
          }
        } }, 'Yes, remove'),
        el('button', { type: 'button', class: 'secondary', onclick: () => { removal.hidden = true; } }, 'Cancel'),
      ]);
    }

    return el('form', { id: 'deploy-form', novalidate: true, onsubmit: submit },
      field('f-name', 'Name', name, existing ? 'A function keeps its name.' : 'Lower-case letters, digits and dashes.'),
      field('f-image', 'Image', image, 'The Docker image (recorded but not used on the process backend).'),
      field('f-mode', 'Mode', mode),
      field('f-command', 'Command (per-call)', command, 'Split like a shell splits words, e.g. sh -c \'tr a-z A-Z\'.'),
      field('f-envprocess', 'envProcess (service)', envProcess),
      field('f-env', 'Environment', env, 'One KEY=VALUE a line.'),
      field('f-labels', 'Labels', labels, 'One KEY=VALUE a line, e.g. com.openfaas.scale.max=5.'),
      el('div', { class: 'grid' },
        field('f-timeout', 'Timeout (seconds)', timeout),
        field('f-concurrency', 'Max concurrency', concurrency)),
      existing ? el('div', { class: 'field' }, el('label', {}, refresh, ' New UUID (the old address stops working)')) : null,
      el('div', { class: 'row' },
        el('button', { type: 'submit', id: existing ? 'update' : 'deploy' }, existing ? 'Update' : 'Deploy'),
        existing ? el('button', { type: 'button', class: 'danger', id: 'remove', onclick: () => { removal.hidden = false; removal.querySelector('button')?.focus(); } }, 'Remove') : null),
      removal,
      result,
      problem);
  }

  // ---- #/fn/<name> : one function -------------------------------------------

  function functionView(life, name) {
    const problem = el('p', { class: 'error', role: 'alert', id: 'function-error' });
    const facts = el('dl', { class: 'facts', id: 'function-facts' });
    const edit = el('div', { id: 'edit' });
    append(main, [
      el('p', {}, el('a', { href: '#/' }, '← Functions')),
      el('h1', {}, name),
      problem,
      el('div', { class: 'grid' },
        el('section', { class: 'panel', 'aria-labelledby': 'h-facts' }, el('h2', { id: 'h-facts' }, 'Function'), facts),
        invokePanel(name)),
      plotsPanel(life, name),
      callsPanel(life, name),
      logsPanel(life, name),
      el('section', { class: 'panel', 'aria-labelledby': 'h-edit' }, el('h2', { id: 'h-edit' }, 'Update or remove'), edit),
    ]);
    let shown = false;
    life.every(3000, async () => {
      try {
        const [f, counts] = await Promise.all([
          getJson(`/system/function/${fnPath(name)}`, life.signal),
          getJson(`/system/function/${fnPath(name)}/status`, life.signal),
        ]);
        const rows = [
          ['Mode', f.mode], ['Image', f.image], ['Command', el('code', {}, commandOf(f))],
          ['Replicas', `${f.replicas} wanted, ${f.availableReplicas} available`],
          ['Invocations', String(f.invocationCount)],
          ['Calls', `${counts.Pending} pending, ${counts.Running} running, ${counts.Finished} finished, ${counts.Failed} failed`],
          ['Timeout', `${f.timeout} s`], ['Created', new Date(f.created).toLocaleString()],
          ['Address', addressBlock(f.address)],
        ];
        facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]));
        if (!shown) {
          edit.replaceChildren(deployForm(f));
          shown = true;
        }
        problem.textContent = '';
      } catch (e) {
        if (!life.signal.aborted) problem.textContent = e.message;
      }
    });
  }

  // ---- invoke ------------------------------------------------------------

  function invokePanel(name) {
    const body = el('textarea', { id: 'invoke-body', rows: 4 });
    const file = el('input', { type: 'file', id: 'invoke-file' });
    const method = el('select', { id: 'invoke-method' }, ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'].map((m) => el('option', { value: m }, m)));
    const sync = el('input', { type: 'radio', name: 'invoke-kind', id: 'invoke-sync', value: 'sync', checked: true });
    const async_ = el('input', { type: 'radio', name: 'invoke-kind', id: 'invoke-async', value: 'async' });
    const headers = el('textarea', { id: 'invoke-headers', rows: 2, placeholder: 'X-Example: value' });
    const answer = el('div', { id: 'invoke-answer', class: 'answer', 'aria-live': 'polite' });
    const later = el('div', { id: 'invoke-async-answer', class: 'answer', 'aria-live': 'polite' });
    const problem = el('p', { class: 'error', role: 'alert', id: 'invoke-error' });

    async function invoke(event) {
      event.preventDefault();
      problem.textContent = '';
      answer.replaceChildren(el('p', { class: 'muted' }, 'Calling…'));
      later.replaceChildren();
      const extra = new Headers();
      try {
        for (const raw of headers.value.split('\n')) {
          const line = raw.trim();
          if (!line) continue;
          const at = line.indexOf(':');
          if (at < 1) throw new Error(`"${line}" is not Name: value`);
          extra.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
        }
      } catch (e) {
        answer.replaceChildren();
        problem.textContent = `Headers: ${e.message}`;
        return;
      }
      const chosen = file.files && file.files[0];
      let payload = null;
      if (method.value !== 'GET') {
        payload = chosen || body.value;
        // Never a form's type (text/plain…): the gateway refuses those for
        // calls that need the credentials, as a cross-site form sends them.
        if (!extra.has('Content-Type')) extra.set('Content-Type', chosen && !isFormType(chosen.type) ? chosen.type : 'application/octet-stream');
      }
      const isAsync = async_.checked;
      const path = `/${isAsync ? 'async-function' : 'function'}/${fnPath(name)}`;
      let response;
      try {
        response = await request(method.value, path, { body: payload, headers: extra });
      } catch (e) {
        answer.replaceChildren();
        problem.textContent = `The call did not get an answer: ${e.message}`;
        return;
      }
      await showAnswer(answer, response, name, 'invoke');
      const callId = response.headers.get('X-Call-Id');
      if (isAsync && response.status === 202 && callId) {
        later.replaceChildren(el('p', { class: 'muted', id: 'invoke-async-wait' }, `Waiting for call ${callId} to end…`));
        try {
          const ended = await request('GET', `/system/calls/${encodeURIComponent(callId)}/output?wait=true`);
          later.replaceChildren(el('h3', {}, `Output of call ${callId}`));
          const box = el('div', {});
          later.append(box);
          await showAnswer(box, ended, name, 'async');
        } catch (e) {
          later.replaceChildren(el('p', { class: 'error' }, `Cannot fetch the output: ${e.message}`));
        }
      }
    }

    return el('section', { class: 'panel', 'aria-labelledby': 'h-invoke' },
      el('h2', { id: 'h-invoke' }, 'Invoke'),
      el('form', { id: 'invoke-form', onsubmit: invoke },
        field('invoke-body', 'Body', body),
        field('invoke-file', 'Or a file (sent instead of the text)', file),
        el('fieldset', {}, el('legend', {}, 'Call'),
          el('div', { class: 'row' },
            el('label', {}, sync, ' sync (wait for the answer)'),
            el('label', {}, async_, ' async (a call id now, the output later)'),
            el('label', { for: 'invoke-method' }, 'Method'), method)),
        field('invoke-headers', 'Extra headers', headers, 'One Name: value a line.'),
        el('div', { class: 'row' },
          el('button', { type: 'submit', id: 'invoke' }, 'Invoke'),
          el('button', { type: 'button', class: 'secondary', id: 'invoke-clear', onclick: () => { file.value = ''; } }, 'Clear the file'))),
      problem, answer, later);
  }

  /** Whether a Content-Type is one a cross-site form can send. */
  function isFormType(type) {
    const essence = (type || '').split(';')[0].trim().toLowerCase();
    return !essence || ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'].includes(essence);
  }

  const IMAGE_MAGIC = [
    [[0x89, 0x50, 0x4e, 0x47], 'image/png'], [[0xff, 0xd8, 0xff], 'image/jpeg'],
    [[0x47, 0x49, 0x46, 0x38], 'image/gif'], [[0x52, 0x49, 0x46, 0x46], 'image/webp'],
  ];

  const blobUrls = new WeakMap();

  /** A response: its status, call id and duration, and its body as text, an image or a download. */
  async function showAnswer(box, response, name, prefix) {
    const buffer = await response.arrayBuffer();
    const bytes = new Uint8Array(buffer);
    const callId = response.headers.get('X-Call-Id') || '';
    const duration = response.headers.get('X-Duration-Seconds');
    let type = (response.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
    // Shown as an image only in a raster type (an SVG is a document that
    // can hold script); anything else is text or a download, never a page.
    const image = IMAGE_MAGIC.map(([, t]) => t);
    if (!image.includes(type)) {
      const magic = IMAGE_MAGIC.find(([sig]) => sig.every((b, i) => bytes[i] === b));
      if (magic) type = magic[1];
    }
    const old = blobUrls.get(box);
    if (old) URL.revokeObjectURL(old);
    const url = URL.createObjectURL(new Blob([buffer], { type: image.includes(type) ? type : 'application/octet-stream' }));
    blobUrls.set(box, url);
    const facts = el('dl', { class: 'facts' },
      el('dt', {}, 'Status'), el('dd', { id: `${prefix}-status` }, `${response.status} ${response.statusText}`.trim()),
      el('dt', {}, 'X-Call-Id'), el('dd', { id: `${prefix}-callid`, class: 'mono' }, callId || '–'),
      el('dt', {}, 'X-Duration-Seconds'), el('dd', { id: `${prefix}-duration` }, duration || '–'),
      el('dt', {}, 'Size'), el('dd', {}, `${bytes.length} bytes${type ? `, ${type}` : ''}`));
    let shown;
    if (image.includes(type)) {
      shown = el('img', { src: url, alt: `the output of ${name}`, id: `${prefix}-image` });
    } else {
      let text = null;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, SHOWN_BYTES));
        if (text.includes('\u0000')) text = null;
      } catch (_) { text = null; }
      shown = text === null
        ? el('p', { class: 'muted' }, 'Binary output: download it below.')
        : el('pre', { id: `${prefix}-output` }, text, bytes.length > SHOWN_BYTES ? `\n… (${bytes.length - SHOWN_BYTES} more bytes: download them)` : '');
    }
    const download = el('a', { href: url, download: `${name}-${shortId(callId) || 'output'}.out`, id: `${prefix}-download` }, 'Download the output');
    box.replaceChildren(facts, shown, el('p', {}, download));
  }

  // ---- calls -------------------------------------------------------------

  function callsPanel(life, name) {
    const body = el('tbody');
    const viewer = el('div', { id: 'call-output', class: 'answer', 'aria-live': 'polite' });
    const problem = el('p', { class: 'error', role: 'alert' });
    const heads = ['Call', 'Kind', 'Status', 'Created', 'Started', 'Finished', 'Exit code', 'Seconds', 'Output'];
    life.every(2000, async () => {
      try {
        const calls = await getJson(`/system/function/${fnPath(name)}/calls?limit=25`, life.signal);
        body.replaceChildren(...calls.map((c) => {
          const cell = (label, content, cls) => el('td', { 'data-label': label, class: cls }, content);
          const view = el('button', { type: 'button', class: 'small secondary', 'aria-label': `Show the output of call ${c.CallId}` }, 'Show');
          view.addEventListener('click', async () => {
            viewer.replaceChildren(el('h3', {}, `Output of call ${c.CallId}`));
            const box = el('div', {});
            viewer.append(box);
            try {
              const response = await request('GET', `/system/calls/${encodeURIComponent(c.CallId)}/output`);
              await showAnswer(box, response, name, 'call');
            } catch (e) {
              box.textContent = e.message;
            }
          });
          return el('tr', { 'data-call': c.CallId, 'data-status': c.Status },
            cell('Call', el('code', { class: 'call-id' }, c.CallId)),
            cell('Kind', c.Async ? 'async' : 'sync'),
            cell('Status', c.Status, `status status-${c.Status}`),
            cell('Created', when(c.Created), 'time'),
            cell('Started', when(c.Started), 'time'),
            cell('Finished', when(c.Finished), 'time'),
            cell('Exit code', c.ExitCode === null ? '' : String(c.ExitCode), 'num'),
            cell('Seconds', c.DurationSeconds === null ? '' : c.DurationSeconds.toFixed(3), 'num'),
            cell('Output', view));
        }));
        problem.textContent = '';
      } catch (e) {
        if (!life.signal.aborted) problem.textContent = e.message;
      }
    });
    return el('section', { class: 'panel', 'aria-labelledby': 'h-calls' },
      el('h2', { id: 'h-calls' }, 'Recent calls'), problem,
      el('div', { class: 'scroll' }, el('table', { class: 'cards', id: 'calls' },
        el('thead', {}, el('tr', {}, heads.map((h) => el('th', { scope: 'col' }, h)))), body)),
      viewer);
  }

  // ---- logs --------------------------------------------------------------

  function logLine(e) {
    let text = `${e.Time || e.timestamp || ''} [${e.Event || 'LOG'}]`;
    if (e.CallId) text += ` CallId: ${e.CallId}`;
    if (e.Event === 'CALL') text += `, ShortStdin: ${e.ShortStdin || ''}`;
    if (e.Event === 'FINISHED') text += `, ShortStdout: ${e.ShortStdout || ''}, ShortStderr: ${e.ShortStderr || ''}`;
    if (e.Event === 'STDERR') text += `, ShortStderr: ${e.ShortStderr || e.text || ''}`;
    if (e.Message) text += `, Message: ${e.Message}`;
    return el('li', { class: `ev-${e.Event || 'LOG'}`, 'data-call': e.CallId || '' }, text);
  }

  function logsPanel(life, name) {
    const list = el('ol', { class: 'log', id: 'log', 'aria-live': 'off', tabindex: 0, 'aria-label': `The log of ${name}` });
    const filter = el('input', { type: 'text', id: 'log-filter', placeholder: 'a call id', autocomplete: 'off' });
    const state = el('p', { class: 'muted', id: 'log-state', role: 'status' }, 'Connecting…');
    let stream = null;

    async function follow(callId) {
      if (stream) stream.abort();
      const controller = new AbortController();
      stream = controller;
      life.signal.addEventListener('abort', () => controller.abort());
      list.replaceChildren();
      const query = new URLSearchParams({ name, tail: '50', follow: 'true' });
      if (callId) query.set('callid', callId);
      while (!controller.signal.aborted) {
        try {
          const response = await request('GET', `/system/logs?${query}`, { signal: controller.signal });
          if (!response.ok) throw await failure(response);
          state.textContent = callId ? `Following call ${callId}` : 'Following every call';
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let pending = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            pending += decoder.decode(value, { stream: true });
            const lines = pending.split('\n');
            pending = lines.pop();
            for (const line of lines) {
              if (!line.trim()) continue;
              try { list.append(logLine(JSON.parse(line))); } catch (_) { list.append(el('li', {}, line)); }
            }
            while (list.children.length > LOG_LINES) list.firstElementChild.remove();
            list.scrollTop = list.scrollHeight;
          }
          state.textContent = 'The stream ended; reconnecting…';
        } catch (e) {
          if (controller.signal.aborted) return;
          state.textContent = `The log stream stopped (${e.message}); retrying…`;
        }
        await new Promise((resolve) => window.setTimeout(resolve, 2000));
        list.replaceChildren();
      }
    }

    follow('');
    return el('section', { class: 'panel', 'aria-labelledby': 'h-logs' },
      el('h2', { id: 'h-logs' }, 'Log (live)'),
      el('form', { class: 'row', id: 'log-form', onsubmit: (event) => { event.preventDefault(); follow(filter.value.trim()); } },
        el('label', { for: 'log-filter' }, 'Call id'), filter,
        el('button', { type: 'submit', class: 'small' }, 'Filter'),
        el('button', { type: 'button', class: 'small secondary', onclick: () => { filter.value = ''; follow(''); } }, 'All calls')),
      state, list);
  }

  // ---- plots -------------------------------------------------------------

  function plotsPanel(life, name) {
    const plots = [
      { id: 'plot-calls', title: 'Calls per second by status code', unit: '/s' },
      { id: 'plot-latency', title: 'Run time p50 and p99', unit: 's' },
      { id: 'plot-queue', title: 'Queued and running calls', unit: '' },
      { id: 'plot-replicas', title: 'Replicas', unit: '' },
    ];
    const figures = plots.map((p) => {
      const chart = svg('svg', { viewBox: '0 0 320 140', role: 'img', id: p.id, 'data-points': 0 });
      const legend = el('ul', { class: 'legend' });
      const latest = el('p', { class: 'hint', id: `${p.id}-latest` });
      p.parts = { chart, legend, latest };
      return el('figure', { class: 'plot' }, el('figcaption', {}, p.title), chart, legend, latest);
    });
    const problem = el('p', { class: 'error', role: 'alert' });
    const note = el('p', { class: 'hint', id: 'plots-note' });
    const draw = async () => {
      try {
        const history = await getJson(`/system/function/${fnPath(name)}/samples`, life.signal);
        const samples = history.samples;
        note.textContent = `The last 15 minutes, a sample every ${history.intervalSeconds} s (${samples.length} so far).`;
        const t = samples.map((s) => Date.parse(s.time));
        const codes = [...new Set(samples.flatMap((s) => Object.keys(s.callsPerSecond)))].sort();
        const series = [
          codes.map((code) => ({ label: code, values: samples.map((s) => s.callsPerSecond[code] || 0) })),
          [{ label: 'p50', values: samples.map((s) => s.p50Seconds) }, { label: 'p99', values: samples.map((s) => s.p99Seconds) }],
          [{ label: 'queued', values: samples.map((s) => s.queued) }, { label: 'running', values: samples.map((s) => s.running) }],
          [{ label: 'wanted', values: samples.map((s) => s.replicas) }, { label: 'available', values: samples.map((s) => s.availableReplicas) }],
        ];
        plots.forEach((p, i) => chart(p, t, series[i]));
        problem.textContent = '';
        return Math.max(1000, history.intervalSeconds * 1000);
      } catch (e) {
        if (!life.signal.aborted) problem.textContent = e.message;
        return 5000;
      }
    };
    life.repeat(draw);
    return el('section', { class: 'panel', 'aria-labelledby': 'h-plots' },
      el('h2', { id: 'h-plots' }, 'Live'), note, problem, el('div', { class: 'plots' }, figures));
  }

  /** The smallest 1, 2 or 5 × 10^k at or above `v`: the plot's top. */
  function nice(v) {
    const power = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 5, 10].map((m) => m * power).find((n) => n >= v * 0.999) || v;
  }

  function format(v, unit) {
    if (v === null || v === undefined) return '–';
    if (unit === 's') return v >= 1 ? `${Number(v.toPrecision(3))} s` : `${Number((v * 1000).toPrecision(3))} ms`;
    if (unit === '/s') return `${Number(v.toPrecision(3))}/s`;
    return String(v);
  }

  /** Draws `series` (values at times `t`) on the plot's SVG over the last 15 minutes. */
  function chart(plot, t, series) {
    const { chart: root, legend, latest } = plot.parts;
    const [W, H, L, R, T, B] = [320, 140, 44, 6, 8, 18];
    const now = Date.now();
    // The axis grows with the history, from a minute up to the whole window.
    const span = Math.min(WINDOW_MS, Math.max(60 * 1000, t.length ? now - t[0] : 0));
    const x0 = now - span;
    const values = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const top = nice(Math.max(plot.unit === '' ? 1 : 1e-6, ...values));
    const x = (ms) => L + ((ms - x0) / span) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const parts = [
      svg('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }),
      svg('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }),
      svg('line', { class: 'grid', x1: L, y1: y(top / 2), x2: W - R, y2: y(top / 2) }),
    ];
    const label = (text, attrs) => { const n = svg('text', attrs); n.textContent = text; return n; };
    parts.push(label(format(top, plot.unit), { x: 2, y: T + 8 }));
    parts.push(label('0', { x: L - 10, y: H - B }));
    const ago = span >= 120 * 1000 ? `-${Math.round(span / 60000)} min` : `-${Math.round(span / 1000)} s`;
    parts.push(label(ago, { x: L, y: H - 4 }));
    parts.push(label('now', { x: W - R - 18, y: H - 4 }));
    let points = 0;
    series.forEach((s, i) => {
      let run = [];
      const flush = () => {
        if (run.length === 1) parts.push(svg('circle', { class: `c${i % 6}`, cx: run[0][0], cy: run[0][1], r: 2 }));
        else if (run.length > 1) parts.push(svg('polyline', { class: `c${i % 6}`, points: run.map((p) => p.join(',')).join(' ') }));
        run = [];
      };
      s.values.forEach((v, k) => {
        if (v === null || v === undefined || t[k] < x0) { flush(); return; }
        run.push([x(t[k]).toFixed(1), y(v).toFixed(1)]);
        points += 1;
      });
      flush();
    });
    root.replaceChildren(...parts);
    root.setAttribute('data-points', String(points));
    root.setAttribute('aria-label', `${plot.title}: ${series.map((s) => `${s.label} ${format(s.values[s.values.length - 1], plot.unit)}`).join(', ') || 'no calls yet'}`);
    legend.replaceChildren(...series.map((s, i) => el('li', {}, el('span', { class: `swatch c${i % 6}` }), s.label)));
    latest.textContent = series.length
      ? `Latest: ${series.map((s) => `${s.label} ${format(s.values[s.values.length - 1], plot.unit)}`).join(', ')}`
      : 'No calls yet.';
  }

  // ---- start -------------------------------------------------------------

  document.getElementById('skip').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  window.addEventListener('hashchange', route);
  getJson('/system/info').then((info) => {
    document.getElementById('gateway-info').textContent =
      `backend ${info.provider.orchestration} · version ${info.provider.version.release}`;
  }).catch(() => {});
  route();
})();
