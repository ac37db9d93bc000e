/**
 * A min-heap of (time, slot) for the scheduler, in typed arrays (12 bytes an item: it holds
 * every waiting message of a queue of millions); stale items are skipped by the caller (lazy
 * deletion).
 */
export class DueHeap {
  private times = new Float64Array(1024);
  private slots = new Int32Array(1024);
  private n = 0;

  get size(): number {
    return this.n;
  }

  push(time: number, slot: number): void {
    if (this.n === this.times.length) {
      const times = new Float64Array(this.n * 2);
      times.set(this.times);
      this.times = times;
      const slots = new Int32Array(this.n * 2);
      slots.set(this.slots);
      this.slots = slots;
    }
    let i = this.n++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= time) break;
      this.times[i] = this.times[parent]!;
      this.slots[i] = this.slots[parent]!;
      i = parent;
    }
    this.times[i] = time;
    this.slots[i] = slot;
  }

  peekTime(): number | undefined {
    return this.n > 0 ? this.times[0] : undefined;
  }

  peekSlot(): number | undefined {
    return this.n > 0 ? this.slots[0] : undefined;
  }

  pop(): { time: number; slot: number } | undefined {
    if (this.n === 0) return undefined;
    const top = { time: this.times[0]!, slot: this.slots[0]! };
    const n = --this.n;
    if (n > 0) {
      const time = this.times[n]!;
      const slot = this.slots[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && this.times[r]! < this.times[l]! ? r : l;
        if (this.times[m]! >= time) break;
        this.times[i] = this.times[m]!;
        this.slots[i] = this.slots[m]!;
        i = m;
      }
      this.times[i] = time;
      this.slots[i] = slot;
    }
    return top;
  }
}
