// One view of an execution's logs (a set of filters): positions 0..count-1 in seq order, loaded in
// pages on demand, plus the live logs appended at the end.
//
// Load: the first page gives total_count; the last page is read at its offset, then followed by cursor
// (`after=next_cursor`) until nothing is left, so the view ends at its newest log. Pages further up
// are read when they scroll into view: by cursor when the page above is loaded, by offset otherwise
// (the SQL API turns an offset into a seq). Live logs are appended when they match the filters and are
// newer than the newest log the view holds, so a log is never shown twice.

export const PAGE = 200;

export class LogView {
  constructor(api, filters, onChange, onError) {
    this.api = api;
    this.filters = filters; // { category, level, node_id, event_type }
    this.onChange = onChange;
    this.onError = onError;
    this.pages = new Map(); // page index -> entries
    this.inflight = new Set();
    this.count = 0;
    this.maxSeq = 0;
    this.loaded = false;
    this.pendingLive = [];
    this.controller = new AbortController();
  }

  close() { this.controller.abort(); }

  matches(entry) {
    const f = this.filters;
    if (f.category && entry.log_category !== f.category) return false;
    if (f.level && String(entry.level).toLowerCase() !== f.level) return false;
    if (f.node_id && entry.node_id !== f.node_id) return false;
    if (f.event_type && entry.event_type !== f.event_type) return false;
    return true;
  }

  row(i) {
    const page = this.pages.get(Math.floor(i / PAGE));
    return page ? page[i % PAGE] : undefined;
  }

  put(position, entries) {
    for (let k = 0; k < entries.length; k++) {
      const at = position + k;
      const p = Math.floor(at / PAGE);
      let page = this.pages.get(p);
      if (!page) { page = []; this.pages.set(p, page); }
      page[at % PAGE] = entries[k];
    }
  }

  async load() {
    const signal = this.controller.signal;
    const first = await this.api.logs({ ...this.filters, limit: PAGE }, signal);
    this.put(0, first.logs);
    let end = first.logs.length;
    let last = first;
    const total = first.total_count;
    if (first.pagination.has_more && total > PAGE) {
      const tailPage = Math.floor((total - 1) / PAGE);
      last = await this.api.logs({ ...this.filters, limit: PAGE, offset: tailPage * PAGE }, signal);
      this.put(tailPage * PAGE, last.logs);
      end = tailPage * PAGE + last.logs.length;
    }
    // Logs that committed while we read: follow the cursor to the end.
    while (last.pagination.has_more && last.logs.length) {
      last = await this.api.logs({ ...this.filters, limit: PAGE, after: last.pagination.next_cursor }, signal);
      this.put(end, last.logs);
      end += last.logs.length;
    }
    this.count = end;
    const newest = this.row(end - 1);
    this.maxSeq = newest ? newest.seq : 0;
    this.loaded = true;
    const pending = this.pendingLive;
    this.pendingLive = [];
    for (const entry of pending) this.live(entry);
    this.onChange(true);
  }

  // A live log from the stream (already de-duplicated by seq).
  live(entry) {
    if (!this.loaded) { this.pendingLive.push(entry); return false; }
    if (entry.seq <= this.maxSeq || !this.matches(entry)) return false;
    this.put(this.count, [entry]);
    this.count += 1;
    this.maxSeq = entry.seq;
    return true;
  }

  // Rows first..last are in view and some are not loaded: read their pages.
  need(first, last) {
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE); p++) {
      const page = this.pages.get(p);
      const size = Math.min(PAGE, this.count - p * PAGE);
      if ((page && page.filter(Boolean).length >= size) || this.inflight.has(p)) continue;
      this.fetchPage(p);
    }
  }

  async fetchPage(p) {
    this.inflight.add(p);
    try {
      const above = this.pages.get(p - 1);
      const params = { ...this.filters, limit: PAGE };
      if (p > 0 && above && above.length === PAGE && above[PAGE - 1]) params.after = above[PAGE - 1].seq;
      else params.offset = p * PAGE;
      const page = await this.api.logs(params, this.controller.signal);
      const room = Math.max(0, this.count - p * PAGE);
      this.put(p * PAGE, page.logs.slice(0, Math.min(room, PAGE)));
      this.onChange(false);
    } catch (err) {
      if (err.name !== "AbortError") this.onError(err);
    } finally {
      this.inflight.delete(p);
    }
  }
}

