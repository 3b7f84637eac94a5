// A windowed list: only the rows in view (plus a margin) exist in the DOM, so a run of 100k logs costs
// what a screenful costs. Rows have one height (read from CSS, so phones may use taller rows); an
// expanded row adds its measured extra height. Rows are absolutely positioned inside a spacer whose
// height is the whole list's.

const OVERSCAN = 8;

export class VirtualList {
  // source: { count, row(i) -> entry | undefined, need(first, last) } ; render(el, entry, i, expanded)
  constructor(scroller, spacer, { render, onScroll }) {
    this.scroller = scroller;
    this.spacer = spacer;
    this.render = render;
    this.onScroll = onScroll || (() => {});
    this.source = { count: 0, row: () => undefined, need: () => {} };
    this.rowHeight = 40;
    this.expanded = new Map(); // index -> extra height (px)
    this.pool = new Map(); // index -> element
    this.follow = true; // stick to the bottom while the user is there
    this.frame = 0;
    scroller.addEventListener("scroll", () => {
      this.follow = this.atBottom();
      this.schedule();
      this.onScroll(this.follow);
    }, { passive: true });
    new ResizeObserver(() => { this.measure(); this.schedule(); }).observe(scroller);
    this.measure();
  }

  measure() {
    const value = parseFloat(getComputedStyle(this.scroller).getPropertyValue("--row-h"));
    if (value > 0 && value !== this.rowHeight) {
      this.rowHeight = value;
      this.expanded.clear();
      this.clear();
    }
  }

  setSource(source) {
    this.source = source;
    this.expanded.clear();
    this.clear();
    this.follow = true;
    this.update(true);
  }

  clear() {
    for (const el of this.pool.values()) el.remove();
    this.pool.clear();
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < this.rowHeight;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.update(false); });
  }

  // Call after rows were added or loaded; keeps the bottom in view when following.
  refresh() { this.update(true); }

  extraBefore(index) {
    let sum = 0;
    for (const [i, extra] of this.expanded) if (i < index) sum += extra;
    return sum;
  }

  top(index) { return index * this.rowHeight + this.extraBefore(index); }

  indexAt(y) {
    let acc = 0;
    const sorted = [...this.expanded].sort((a, b) => a[0] - b[0]);
    for (const [i, extra] of sorted) {
      const top = i * this.rowHeight + acc;
      if (y < top) break;
      if (y < top + this.rowHeight + extra) return i;
      acc += extra;
    }
    return Math.floor((y - acc) / this.rowHeight);
  }

  totalHeight() {
    let extra = 0;
    for (const v of this.expanded.values()) extra += v;
    return this.source.count * this.rowHeight + extra;
  }

  scrollToBottom() {
    this.follow = true;
    this.update(true);
  }

  toggle(index) {
    if (this.expanded.has(index)) this.expanded.delete(index);
    else this.expanded.set(index, 0);
    const el = this.pool.get(index);
    if (el) { el.remove(); this.pool.delete(index); }
    this.update(false);
  }

  update(contentChanged) {
    const { count } = this.source;
    this.spacer.style.height = `${this.totalHeight()}px`;
    if (contentChanged && this.follow) this.scroller.scrollTop = this.scroller.scrollHeight;
    const viewTop = this.scroller.scrollTop;
    const viewBottom = viewTop + this.scroller.clientHeight;
    const first = Math.max(0, this.indexAt(viewTop) - OVERSCAN);
    const last = Math.min(count - 1, this.indexAt(viewBottom) + OVERSCAN);
    for (const [i, el] of this.pool) {
      if (i < first || i > last) { el.remove(); this.pool.delete(i); }
    }
    let missing = false;
    let grew = false;
    let added = false;
    for (let i = first; i <= last; i++) {
      const entry = this.source.row(i);
      if (entry === undefined) missing = true;
      let el = this.pool.get(i);
      const key = entry === undefined ? "" : String(entry.seq);
      if (!el || el.dataset.key !== key) {
        if (el) el.remove();
        el = document.createElement("div");
        el.dataset.key = key;
        this.render(el, entry, i, this.expanded.has(i));
        this.spacer.appendChild(el);
        this.pool.set(i, el);
        added = true;
        if (this.expanded.has(i)) {
          const extra = Math.max(0, el.offsetHeight - this.rowHeight);
          if (extra !== this.expanded.get(i)) { this.expanded.set(i, extra); grew = true; }
        }
      }
      el.style.transform = `translateY(${this.top(i)}px)`;
    }
    if (added) {
      // Keep the DOM in reading order (screen readers, selection), whatever order rows were created in.
      for (let i = first; i <= last; i++) this.spacer.appendChild(this.pool.get(i));
    }
    if (grew) {
      this.spacer.style.height = `${this.totalHeight()}px`;
      for (const [i, el] of this.pool) el.style.transform = `translateY(${this.top(i)}px)`;
    }
    if (missing && count > 0) this.source.need(first, last);
  }
}
