/**
 * The iommufd object table (`ictx->objects`, an allocating xarray): one id space for every
 * object type, ids from 1, always the lowest free id, reused after destroy. An object being
 * created already owns its id but stays invisible (lookups give ENOENT) until finalised.
 *
 * @module
 */

import { E } from "../uapi/errno.ts";

/** The object types of iommufd_private.h that the simulator models. */
export type ObjectType =
  | "ioas"
  | "device"
  | "hwpt_paging"
  | "hwpt_nested"
  | "selftest"
  | "fault"
  | "viommu"
  | "vdevice"
  | "veventq"
  | "hw_queue"
  | "access"
  | "tombstone";

/** Common part of every iommufd object (`struct iommufd_object`). */
export interface IommufdObject {
  /** Id in the table; 0 until allocated. */
  id: number;
  readonly type: ObjectType;
  /**
   * `obj->users`: 1 for the table's own reference, +1 for each object or driver that holds
   * this one (a hwpt holds its IOAS, a bound driver holds its device, an attached device
   * holds its hwpt). IOMMU_DESTROY needs it to be exactly 1.
   */
  users: number;
  /** False while being created: the id is taken but lookups fail. */
  finalized: boolean;
}

/** A binary min-heap of freed ids, so the lowest free id is found in O(log n). */
class IdHeap {
  #a: number[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): number {
    return this.#a[0];
  }
  push(v: number): void {
    const a = this.#a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.#a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && a[r] < a[l] ? r : l;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
  clear(): void {
    this.#a.length = 0;
  }
}

/** The table. Errnos are positive numbers, 0 for success. */
export class ObjectTable {
  #slots: (IommufdObject | undefined)[] = [undefined];
  #free = new IdHeap();
  #next = 1;
  #count = 0;

  /** Largest id the release hands out (xa_limit_31b since 6.6, xa_limit_32b before). */
  constructor(private readonly maxId: () => number) {}

  /** Number of ids in use, finalised or not (xa_empty is `count === 0`). */
  get count(): number {
    return this.#count;
  }

  /**
   * Allocate the lowest free id for `obj` (not yet visible). Returns 0, or EBUSY when the id
   * space is exhausted (what xa_alloc answers then).
   */
  allocate(obj: IommufdObject): number {
    let id: number;
    if (this.#free.size > 0) {
      id = this.#free.pop();
    } else {
      if (this.#next > this.maxId()) return E.EBUSY;
      id = this.#next++;
    }
    obj.id = id;
    obj.finalized = false;
    this.#slots[id] = obj;
    this.#count++;
    return 0;
  }

  /** Make an allocated object visible (`iommufd_object_finalize`). */
  finalize(obj: IommufdObject): void {
    obj.finalized = true;
  }

  /** Give back the id of an object whose creation failed (`iommufd_object_abort`). */
  abort(obj: IommufdObject): void {
    this.#release(obj.id);
  }

  /** The finalised object with `id`, of `type` when given; undefined means ENOENT. */
  get(id: number, type?: ObjectType): IommufdObject | undefined {
    const o = id > 0 ? this.#slots[id] : undefined;
    if (o === undefined || !o.finalized) return undefined;
    if (type !== undefined && o.type !== type) return undefined;
    return o;
  }

  /**
   * IOMMU_DESTROY's removal (`iommufd_object_remove`): ENOENT if absent or not finalised,
   * EBUSY if anything else holds it; else the id is freed and 0 returned. The caller then
   * runs the type's destroy.
   */
  remove(id: number): { errno: number; obj?: IommufdObject } {
    const o = this.get(id);
    if (o === undefined) return { errno: E.ENOENT };
    if (o.users !== 1) return { errno: E.EBUSY };
    o.users = 0;
    this.#release(id);
    return { errno: 0, obj: o };
  }

  /** Drop an object the kernel destroys on its own (auto hwpt, unbound device). */
  forget(obj: IommufdObject): void {
    if (this.#slots[obj.id] === obj) this.#release(obj.id);
  }

  /**
   * `iommufd_object_tombstone_user`: `obj` leaves the table but its id stays taken by a
   * tombstone that lookups and IOMMU_DESTROY see as absent (ENOENT) until the file is
   * released.
   */
  tombstone(obj: IommufdObject): void {
    if (this.#slots[obj.id] !== obj) return;
    this.#slots[obj.id] = { id: obj.id, type: "tombstone", users: 1, finalized: false };
  }

  /** Whether `obj` still owns its id. */
  has(obj: IommufdObject): boolean {
    return obj.id > 0 && this.#slots[obj.id] === obj;
  }

  /** Every object, finalised or not, in id order. */
  *objects(): IterableIterator<IommufdObject> {
    for (const o of this.#slots) if (o !== undefined) yield o;
  }

  /** Empty the table and restart ids at 1. */
  clear(): void {
    this.#slots = [undefined];
    this.#free.clear();
    this.#next = 1;
    this.#count = 0;
  }

  #release(id: number): void {
    if (this.#slots[id] === undefined) return;
    this.#slots[id] = undefined;
    this.#count--;
    // Every freed id is below #next, so the heap's minimum is the lowest free id.
    this.#free.push(id);
  }
}
