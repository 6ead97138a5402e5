/**
 * <tidings-inbox>: the in-app inbox bell, reading a recipient's feed from the Tidings gateway
 * (/v1/inbox/*) and following it live over Server-Sent Events. No dependencies, no build step.
 *
 * Embed:
 *   <script type="module" src="https://tidings.example.com/inbox/tidings-inbox.js"></script>
 *   <tidings-inbox api="https://tidings.example.com" token="RECIPIENT_JWT"></tidings-inbox>
 *   or set el.tokenProvider = async () => fetchTokenFromYourBackend()  (called again after a 401)
 *
 * Attributes: token, api (base URL, default same origin), token-from-hash (read #token=... from
 * the page URL), limit (page size, default 20), align="start" (popover opens to the right).
 * Events (bubbling, composed): tidings:item {item}, tidings:read {item} or {all: true, changed},
 * tidings:error {error, status, during}.
 * Theme with CSS custom properties on the element or any ancestor:
 *   --tidings-accent     links, focus ring, unread dot        (#4f46e5)
 *   --tidings-bg         popover background                   (#ffffff)
 *   --tidings-fg         text and bell icon                   (#1f2937)
 *   --tidings-muted      times, categories, read items        (#6b7280)
 *   --tidings-badge-bg   unread badge background              (#dc2626)
 *   --tidings-badge-fg   unread badge text                    (#ffffff)
 *   --tidings-font       font family                          (system-ui stack)
 *   --tidings-radius     popover and item corner radius       (10px)
 *   --tidings-width      popover width                        (360px)
 * Test hooks: .bell[part=bell], .badge[part=badge], .item[data-id] (.item.unread), .mark-all,
 * .archive, .load-more. Server text goes in with textContent; only body_html (sanitised by the
 * server) uses innerHTML. No inline handlers or styles, so it runs under script-src 'self'.
 */

const CSS = `
:host { position: relative; display: inline-block; font-family: var(--tidings-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  --_accent: var(--tidings-accent, #4f46e5); --_bg: var(--tidings-bg, #fff); --_fg: var(--tidings-fg, #1f2937);
  --_muted: var(--tidings-muted, #6b7280); --_radius: var(--tidings-radius, 10px); }
button { font: inherit; color: inherit; }
.bell { position: relative; display: grid; place-items: center; width: 40px; height: 40px; padding: 0; border: 0;
  border-radius: 50%; background: transparent; color: var(--_fg); cursor: pointer; }
.bell:hover { background: color-mix(in srgb, var(--_fg) 8%, transparent); }
.bell svg { width: 22px; height: 22px; }
:focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
.badge { position: absolute; top: 2px; right: 0; min-width: 18px; height: 18px; padding: 0 5px; box-sizing: border-box;
  border-radius: 9px; background: var(--tidings-badge-bg, #dc2626); color: var(--tidings-badge-fg, #fff);
  font-size: 11px; font-weight: 700; line-height: 18px; text-align: center; }
.badge[hidden], .panel[hidden], [hidden] { display: none; }
.panel { position: absolute; z-index: 1000; top: calc(100% + 8px); right: 0; width: min(var(--tidings-width, 360px), calc(100vw - 16px));
  max-height: min(70vh, 520px); display: flex; flex-direction: column; background: var(--_bg); color: var(--_fg);
  border: 1px solid color-mix(in srgb, var(--_fg) 12%, transparent); border-radius: var(--_radius);
  box-shadow: 0 12px 32px rgb(0 0 0 / .16); overflow: hidden; text-align: left; }
:host([align=start]) .panel { right: auto; left: 0; }
.head { display: flex; align-items: center; justify-content: space-between; padding: 12px 14px;
  border-bottom: 1px solid color-mix(in srgb, var(--_fg) 10%, transparent); }
.head h2 { margin: 0; font-size: 15px; }
.mark-all, .load-more { border: 0; background: none; color: var(--_accent); cursor: pointer; font-size: 13px; padding: 4px 6px; border-radius: 6px; }
.mark-all[aria-disabled=true] { color: var(--_muted); cursor: default; }
ul { list-style: none; margin: 0; padding: 4px; overflow-y: auto; }
li { display: flex; align-items: flex-start; gap: 2px; border-radius: calc(var(--_radius) - 4px); }
li:hover { background: color-mix(in srgb, var(--_fg) 5%, transparent); }
.item { flex: 1; min-width: 0; display: grid; grid-template-columns: 10px 1fr; gap: 0 8px; padding: 10px 8px;
  border: 0; border-radius: inherit; background: none; text-align: left; cursor: pointer; }
.dot { width: 8px; height: 8px; margin-top: 6px; border-radius: 50%; }
.unread .dot { background: var(--_accent); }
.title { font-weight: 600; font-size: 14px; overflow-wrap: anywhere; }
.item:not(.unread) .title { font-weight: 500; color: color-mix(in srgb, var(--_fg) 80%, var(--_muted)); }
.body { grid-column: 2; margin-top: 2px; font-size: 13px; color: var(--_muted); overflow-wrap: anywhere; }
.body > :first-child { margin-top: 0; } .body > :last-child { margin-bottom: 0; }
.body a { color: var(--_accent); }
.meta { grid-column: 2; margin-top: 4px; font-size: 12px; color: var(--_muted); }
.item[data-priority=URGENT], .item[data-priority=HIGH] { box-shadow: inset 3px 0 var(--tidings-badge-bg, #dc2626); }
.archive { flex: none; margin: 6px 4px 0 0; width: 28px; height: 28px; padding: 0; border: 0; border-radius: 6px;
  background: none; color: var(--_muted); cursor: pointer; opacity: .6; }
li:hover .archive, .archive:focus-visible { opacity: 1; }
.archive svg { width: 16px; height: 16px; }
.status { padding: 24px 16px; text-align: center; color: var(--_muted); font-size: 14px; }
.foot { display: flex; justify-content: center; padding: 4px 0 8px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

const TEMPLATE = `
<button class="bell" part="bell" type="button" aria-haspopup="dialog" aria-expanded="false" aria-controls="panel" aria-label="Notifications">
  <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">
    <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9"/><path d="M10.3 21a1.94 1.94 0 0 0 3.4 0"/></svg>
  <span class="badge" part="badge" hidden></span>
</button>
<div class="panel" part="panel" id="panel" role="dialog" aria-label="Notifications" tabindex="-1" hidden>
  <div class="head"><h2>Notifications</h2><button class="mark-all" part="mark-all" type="button">Mark all read</button></div>
  <ul class="list" part="list"></ul>
  <p class="status" hidden></p>
  <div class="foot"><button class="load-more" type="button" hidden>Load more</button></div>
</div>
<span class="sr" aria-live="polite"></span>`;

const ARCHIVE_ICON = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true"><rect x="3" y="4" width="18" height="5" rx="1"/><path d="M5 9v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1V9M10 13h4"/></svg>';

let sheet = null; // one constructed sheet shared by every bell; exempt from CSP style-src
function adoptStyles(root) {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); }
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style');
    style.textContent = CSS;
    root.prepend(style);
  }
}

function httpUrl(raw) {
  if (!raw) return null;
  try {
    const url = new URL(raw, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch { return null; }
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
function ago(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  if (!Number.isFinite(seconds)) return '';
  if (Math.abs(seconds) < 45) return relative.format(0, 'second');
  for (const [unit, size] of [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return relative.format(Math.round(seconds / 60), 'minute');
}

// Server-Sent Events, the parts of the WHATWG rules a JSON feed needs: feed it decoded text as it
// arrives; it calls onEvent({type, data, id}) per event, id being the last id: seen on this stream.
function sseParser(onEvent) {
  let buffer = '';
  let type = '';
  let data = [];
  let id = null;
  return (chunk) => {
    buffer += chunk;
    let end;
    while ((end = buffer.search(/\r\n|\r|\n/)) >= 0) {
      if (buffer[end] === '\r' && end === buffer.length - 1) break; // maybe half of a \r\n
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), id });
        type = '';
        data = [];
      } else if (!line.startsWith(':')) { // ':' starts a comment, the server's keepalive
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
    }
  };
}

class HttpError extends Error {
  constructor(status, path) { super(`HTTP ${status} for ${path}`); this.status = status; }
}

const STREAM_IDLE_MS = 90000; // no bytes (not even a keepalive) for this long: the connection is dead
const MAX_BACKOFF_MS = 30000;

export class TidingsInbox extends HTMLElement {
  static get observedAttributes() { return ['token', 'api', 'token-from-hash']; }

  #items = [];              // newest first, archived excluded
  #rows = new Map();        // item id -> <li>
  #nextCursor = null;
  #counts = { unread: 0, unseen: 0 };
  #token = null;
  #tokenProvider = null;
  #stream = null;           // AbortController of the live stream
  #lastEventId = null;
  #attempt = 0;
  #retryTimer = 0;
  #tickTimer = 0;
  #generation = 0;          // bumped on restart so stale responses are dropped
  #open = false;
  #loading = false;
  #problem = '';           // why the last page failed to load, shown instead of an empty list
  #lastStatus = 0;          // of the last stream response, to refresh the token after a 401
  #restartQueued = false;
  #streamLive = false;      // the stream delivers counts after each change; without it we ask

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = TEMPLATE;
    adoptStyles(root);
    this.#q('.bell').addEventListener('click', () => this.toggle());
    this.#q('.mark-all').addEventListener('click', (e) => {
      if (e.currentTarget.getAttribute('aria-disabled') !== 'true') this.markAllRead();
    });
    this.#q('.load-more').addEventListener('click', async () => {
      const before = this.#items.length;
      await this.#loadPage(this.#nextCursor);
      this.shadowRoot.querySelectorAll('.item')[before]?.focus(); // the button may be gone now
    });
    this.#q('.list').addEventListener('click', (e) => this.#onListClick(e));
    root.addEventListener('keydown', (e) => this.#onKey(e));
  }

  #q(selector) { return this.shadowRoot.querySelector(selector); }
  #outside = (e) => { if (this.#open && !e.composedPath().includes(this)) this.close(false); };
  #escape = (e) => { // Escape from anywhere closes; focus returns to the bell unless it was elsewhere
    if (e.key !== 'Escape' || !this.#open) return;
    e.preventDefault();
    this.close(e.composedPath().includes(this) || document.activeElement === document.body);
  };
  #hash = () => { if (this.hasAttribute('token-from-hash')) this.#restart(); };

  get tokenProvider() { return this.#tokenProvider; }
  set tokenProvider(fn) { this.#tokenProvider = fn; this.#token = null; if (this.isConnected) this.#restart(); }
  get counts() { return { ...this.#counts }; }
  get items() { return this.#items.map((item) => ({ ...item })); }

  connectedCallback() {
    document.addEventListener('pointerdown', this.#outside);
    document.addEventListener('keydown', this.#escape);
    window.addEventListener('hashchange', this.#hash);
    this.#restart();
  }

  disconnectedCallback() {
    document.removeEventListener('pointerdown', this.#outside);
    document.removeEventListener('keydown', this.#escape);
    window.removeEventListener('hashchange', this.#hash);
    clearInterval(this.#tickTimer);
    this.#stop();
  }

  attributeChangedCallback(name, before, after) {
    if (before !== after && this.isConnected) { this.#token = null; this.#restart(); }
  }

  // ---- talking to the gateway ----

  get #base() { return (this.getAttribute('api') || '').replace(/\/+$/, ''); }

  async #getToken(refresh = false) {
    if (this.#tokenProvider) {
      if (refresh || !this.#token) this.#token = await this.#tokenProvider();
      return this.#token;
    }
    if (this.hasAttribute('token')) return this.getAttribute('token');
    if (this.hasAttribute('token-from-hash')) return new URLSearchParams(location.hash.slice(1)).get('token');
    return null;
  }

  async #request(method, path, retried = false) {
    const token = await this.#getToken();
    if (!token) throw new HttpError(401, path);
    const response = await fetch(this.#base + path, {
      method, headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' }, cache: 'no-store',
    });
    if (response.status === 401 && this.#tokenProvider && !retried) {
      await this.#getToken(true);
      return this.#request(method, path, true);
    }
    if (!response.ok) throw new HttpError(response.status, path);
    return response.json();
  }

  #fail(error, during) {
    this.dispatchEvent(new CustomEvent('tidings:error', {
      bubbles: true, composed: true, detail: { error, status: error.status ?? null, during },
    }));
  }

  #emit(name, detail) { this.dispatchEvent(new CustomEvent(name, { bubbles: true, composed: true, detail })); }

  #stop() {
    this.#generation += 1;
    this.#stream?.abort();
    this.#stream = null;
    clearTimeout(this.#retryTimer);
  }

  // Several attributes can change in one task (an upgrade sets them all): start over once.
  #restart() {
    this.#stop();
    if (this.#restartQueued) return;
    this.#restartQueued = true;
    queueMicrotask(() => { this.#restartQueued = false; if (this.isConnected) this.#start(); });
  }

  async #start() {
    this.#stop();
    const generation = this.#generation;
    this.#items = [];
    this.#nextCursor = null;
    this.#lastEventId = null;
    this.#attempt = 0;
    this.#setCounts({ unread: 0, unseen: 0 });
    this.#render();
    try {
      if (!(await this.#getToken())) return; // nothing to do until a token is set
      if (generation !== this.#generation) return;
      const counts = await this.#request('GET', '/v1/inbox/counts');
      if (generation === this.#generation) this.#setCounts(counts);
    } catch (error) { if (generation === this.#generation) this.#fail(error, 'counts'); }
    if (generation !== this.#generation) return;
    this.#connect(generation);
    if (this.#open) this.#loadPage(null);
  }

  // ---- the live stream: fetch + a small SSE parser, since EventSource cannot send headers ----

  async #connect(generation) {
    const controller = new AbortController();
    this.#stream = controller;
    this.#streamLive = false;
    let retryAfter = 0;
    let idle = 0;
    const touch = () => { clearTimeout(idle); idle = setTimeout(() => controller.abort(), STREAM_IDLE_MS); };
    try {
      const token = await this.#getToken(this.#attempt > 0 && this.#lastStatus === 401);
      const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
      if (this.#lastEventId !== null) headers['Last-Event-ID'] = this.#lastEventId;
      touch();
      const response = await fetch(`${this.#base}/v1/inbox/stream`, { headers, signal: controller.signal, cache: 'no-store' });
      this.#lastStatus = response.status;
      if (!response.ok) {
        retryAfter = Number(response.headers.get('Retry-After')) * 1000 || 0;
        throw new HttpError(response.status, '/v1/inbox/stream');
      }
      const push = sseParser((event) => this.#onEvent(event));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        touch();
        push(value);
      }
    } catch (error) {
      if (generation !== this.#generation) return; // stopped on purpose
      if (error.name !== 'AbortError') this.#fail(error, 'stream');
      if (error.status === 401 && !this.#tokenProvider) return; // a new token attribute restarts us
    } finally {
      clearTimeout(idle);
      if (generation === this.#generation) this.#streamLive = false;
    }
    if (generation !== this.#generation) return;
    // 1 s doubling to 30 s, with jitter so a gateway restart is not met by every tab at once
    const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.#attempt * (0.75 + Math.random() * 0.5));
    this.#attempt += 1;
    this.#retryTimer = setTimeout(() => this.#connect(generation), Math.min(Math.max(backoff, retryAfter), 120000));
  }

  #onEvent({ type, data, id }) {
    if (id !== null) this.#lastEventId = id;
    let payload;
    try { payload = JSON.parse(data); } catch { return; }
    this.#attempt = 0; // the connection works: the next drop starts again at 1 s
    this.#streamLive = true;
    if (type === 'counts') this.#setCounts(payload);
    else if (type === 'item') {
      if (this.#rows.has(payload.id) || this.#items.some((item) => item.id === payload.id)) return;
      this.#items.unshift(payload);
      this.#render();
      this.#q('.sr').textContent = `New notification: ${payload.title ?? ''}`;
      this.#emit('tidings:item', { item: payload });
      if (this.#open && !payload.seen_at) this.#request('POST', `/v1/inbox/items/${encodeURIComponent(payload.id)}/seen`).catch((e) => this.#fail(e, 'seen'));
    } else if (type === 'state') this.#replace(payload);
  }

  // After a change of ours: the stream's counts event is the truth; only ask when it is down.
  async #syncCounts() {
    if (this.#streamLive) return;
    const generation = this.#generation;
    try {
      const counts = await this.#request('GET', '/v1/inbox/counts');
      if (generation === this.#generation) this.#setCounts(counts);
    } catch (error) { this.#fail(error, 'counts'); }
  }

  #setCounts(counts) {
    this.#counts = { unread: Math.max(0, counts.unread | 0), unseen: Math.max(0, counts.unseen | 0) };
    const badge = this.#q('.badge');
    const unread = this.#counts.unread;
    badge.textContent = unread > 99 ? '99+' : String(unread);
    badge.hidden = unread === 0;
    this.#q('.bell').setAttribute('aria-label', unread ? `Notifications, ${unread} unread` : 'Notifications');
    // aria-disabled, not disabled: disabling the focused button would drop focus to <body>
    const nothing = unread === 0 && !this.#items.some((item) => !item.read_at);
    this.#q('.mark-all').setAttribute('aria-disabled', String(nothing));
  }

  // An item after a change (ours or another tab's): archived ones leave the list, others update.
  #replace(item) {
    const index = this.#items.findIndex((known) => known.id === item.id);
    if (item.archived_at) { if (index >= 0) this.#items.splice(index, 1); }
    else if (index >= 0) this.#items[index] = item;
    else if (this.#items.length && item.seq > this.#items[this.#items.length - 1].seq) {
      const at = this.#items.findIndex((known) => known.seq < item.seq);
      this.#items.splice(at < 0 ? this.#items.length : at, 0, item); // unarchived elsewhere
    }
    this.#render();
  }

  // ---- the popover ----

  toggle() { this.#open ? this.close() : this.open(); }

  open() {
    if (this.#open) return;
    this.#open = true;
    this.#q('.panel').hidden = false;
    this.#q('.bell').setAttribute('aria-expanded', 'true');
    this.#tickTimer = setInterval(() => this.#render(), 60000); // keep "5 min ago" honest
    this.#loadPage(null, true);
  }

  close(restoreFocus = true) {
    if (!this.#open) return;
    this.#open = false;
    this.#q('.panel').hidden = true;
    this.#q('.bell').setAttribute('aria-expanded', 'false');
    clearInterval(this.#tickTimer);
    if (restoreFocus) this.#q('.bell').focus();
  }

  async #loadPage(cursor, focusFirst = false) {
    const generation = this.#generation;
    const limit = Math.max(1, Math.min(100, Number(this.getAttribute('limit')) || 20));
    this.#loading = true;
    this.#render();
    try {
      const query = new URLSearchParams({ limit: String(limit) });
      if (cursor) query.set('cursor', cursor);
      const page = await this.#request('GET', `/v1/inbox/items?${query}`);
      if (generation !== this.#generation) return;
      const newest = page.items[0]?.seq ?? Infinity;
      // a fresh first page replaces the list, keeping only what the stream brought since
      if (!cursor) this.#items = this.#items.filter((item) => item.seq > newest);
      const known = new Set(this.#items.map((item) => item.id));
      this.#items.push(...page.items.filter((item) => !known.has(item.id)));
      if (!cursor || this.#nextCursor === cursor) this.#nextCursor = page.next_cursor || null;
      this.#loading = false;
      this.#problem = '';
      this.#render();
      if (focusFirst && this.#open) (this.#q('.item') || this.#q('.panel')).focus();
      if (this.#open && (this.#counts.unseen > 0 || page.items.some((item) => !item.seen_at))) {
        this.#request('POST', '/v1/inbox/all/seen').then(() => { // what is on screen has been seen
          const now = new Date().toISOString();
          this.#items.forEach((item) => { item.seen_at ??= now; });
          this.#setCounts({ ...this.#counts, unseen: 0 });
        }, (error) => this.#fail(error, 'seen'));
      }
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#loading = false;
      this.#problem = 'Notifications are unavailable right now.';
      this.#render();
      if (focusFirst && this.#open) this.#q('.panel').focus();
      this.#fail(error, 'items');
    }
  }

  async markAllRead() {
    try {
      const { changed } = await this.#request('POST', '/v1/inbox/all/read');
      const now = new Date().toISOString();
      this.#items.forEach((item) => { item.read_at ??= now; item.seen_at ??= now; });
      this.#setCounts({ unread: 0, unseen: 0 });
      this.#render();
      this.#emit('tidings:read', { all: true, changed });
    } catch (error) { this.#fail(error, 'read'); }
  }

  async #setState(item, state) {
    const changed = await this.#request('POST', `/v1/inbox/items/${encodeURIComponent(item.id)}/${state}`);
    this.#syncCounts();
    this.#replace(changed);
    return changed;
  }

  async #onListClick(e) {
    const row = e.target.closest('li');
    const item = row && this.#items.find((known) => known.id === row.dataset.id);
    if (!item) return;
    if (e.target.closest('.archive')) {
      const next = row.nextElementSibling || row.previousElementSibling;
      try { await this.#setState(item, 'archived'); } catch (error) { this.#fail(error, 'archive'); return; }
      if (!this.shadowRoot.activeElement || !this.shadowRoot.activeElement.isConnected) {
        (next?.isConnected ? next.querySelector('.item') : this.#q('.panel')).focus();
      }
      return;
    }
    if (!e.target.closest('.item')) return;
    const link = e.target.closest('a[href]'); // a link inside body_html navigates by itself
    const url = link ? null : httpUrl(item.action_url);
    if (!item.read_at) {
      const read = this.#setState(item, 'read').then((after) => { this.#emit('tidings:read', { item: after }); },
        (error) => { this.#fail(error, 'read'); });
      // before leaving the page, give the read a moment to land so the unload does not cancel it
      if (url) await Promise.race([read, new Promise((resolve) => setTimeout(resolve, 1500))]);
    }
    if (url && (e.ctrlKey || e.metaKey)) window.open(url, '_blank', 'noopener');
    else if (url) location.assign(url);
  }

  #onKey(e) {
    if (!this.#open || !['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(e.key)) return;
    const items = [...this.shadowRoot.querySelectorAll('.item')];
    if (!items.length) return;
    e.preventDefault();
    const current = items.indexOf(this.shadowRoot.activeElement?.closest('li')?.querySelector('.item'));
    let next = { Home: 0, End: items.length - 1 }[e.key];
    if (next === undefined) next = current < 0 ? 0 : current + (e.key === 'ArrowDown' ? 1 : -1);
    items[Math.max(0, Math.min(items.length - 1, next))].focus();
  }

  // ---- rendering: rows are keyed by item id and never moved, so focus survives live updates ----

  #render() {
    const list = this.#q('.list');
    const alive = new Set(this.#items.map((item) => item.id));
    for (const [id, row] of this.#rows) {
      if (!alive.has(id)) { row.remove(); this.#rows.delete(id); }
    }
    let previous = null;
    for (const item of this.#items) {
      let row = this.#rows.get(item.id);
      if (!row) { row = this.#row(); this.#rows.set(item.id, row); }
      this.#fill(row, item);
      if (row.previousElementSibling !== previous || row.parentNode !== list) {
        list.insertBefore(row, previous ? previous.nextSibling : list.firstChild);
      }
      previous = row;
    }
    const status = this.#q('.status');
    status.textContent = this.#items.length ? '' : this.#loading ? 'Loading…' : this.#problem || 'You’re all caught up.';
    status.hidden = !status.textContent;
    this.#q('.load-more').hidden = !this.#nextCursor;
    this.#setCounts(this.#counts);
  }

  #row() {
    const row = document.createElement('li');
    row.innerHTML = `<button class="item" part="item" type="button"><span class="dot" aria-hidden="true"></span>
      <span class="title"></span><div class="body"></div><span class="meta"><span class="category"></span><time></time></span></button>
      <button class="archive" part="archive" type="button" title="Archive">${ARCHIVE_ICON}</button>`;
    return row;
  }

  #fill(row, item) {
    const button = row.querySelector('.item');
    row.dataset.id = item.id;
    button.dataset.id = item.id;
    button.dataset.priority = item.priority || 'NORMAL';
    button.className = item.read_at ? 'item' : 'item unread';
    const title = item.title || '';
    button.setAttribute('aria-label', `${item.read_at ? '' : 'Unread: '}${title}`);
    row.querySelector('.title').textContent = title;
    const body = row.querySelector('.body');
    const html = item.body_html || null;
    if (body.dataset.source !== (html ?? `text:${item.body ?? ''}`)) {
      body.dataset.source = html ?? `text:${item.body ?? ''}`;
      if (html) body.innerHTML = html; // sanitised by the gateway from the template's Markdown
      else body.textContent = item.body || '';
    }
    body.hidden = !html && !item.body;
    row.querySelector('.category').textContent = item.category ? `${item.category} · ` : '';
    const time = row.querySelector('time');
    time.dateTime = item.created_at || '';
    time.textContent = item.created_at ? ago(item.created_at) : '';
    time.title = item.created_at ? new Date(item.created_at).toLocaleString() : '';
    row.querySelector('.archive').setAttribute('aria-label', `Archive: ${title}`);
  }
}

if (!customElements.get('tidings-inbox')) customElements.define('tidings-inbox', TidingsInbox);
