import { strictEqual } from "node:assert";
import { E } from "../uapi/errno.ts";
import { type IommufdObject, ObjectTable } from "./object_table.ts";

function obj(): IommufdObject {
  return { id: 0, type: "ioas", users: 1, finalized: false };
}

Deno.test("xa_alloc: ids start at 1 and the lowest free id is reused", () => {
  const t = new ObjectTable(() => 0x7fffffff);
  const a = obj(), b = obj(), c = obj();
  for (const o of [a, b, c]) {
    strictEqual(t.allocate(o), 0);
    t.finalize(o);
  }
  strictEqual([a.id, b.id, c.id].join(), "1,2,3");
  strictEqual(t.remove(1).errno, 0);
  strictEqual(t.remove(3).errno, 0);
  const d = obj(), e = obj(), f = obj();
  t.allocate(d);
  t.allocate(e);
  t.allocate(f);
  strictEqual([d.id, e.id, f.id].join(), "1,3,4");
});

Deno.test("iommufd_object_remove: ENOENT for id 0, unknown and unfinalised ids", () => {
  const t = new ObjectTable(() => 0x7fffffff);
  strictEqual(t.remove(0).errno, E.ENOENT);
  strictEqual(t.remove(7).errno, E.ENOENT);
  const a = obj();
  t.allocate(a);
  strictEqual(t.get(a.id), undefined);
  strictEqual(t.remove(a.id).errno, E.ENOENT);
  t.finalize(a);
  strictEqual(t.get(a.id), a);
});

Deno.test("iommufd_object_remove: EBUSY while another object holds it", () => {
  const t = new ObjectTable(() => 0x7fffffff);
  const a = obj();
  t.allocate(a);
  t.finalize(a);
  a.users++;
  strictEqual(t.remove(a.id).errno, E.EBUSY);
  a.users--;
  strictEqual(t.remove(a.id).errno, 0);
  strictEqual(t.count, 0);
});

Deno.test("iommufd_object_abort frees the id of a failed creation", () => {
  const t = new ObjectTable(() => 0x7fffffff);
  const a = obj();
  t.allocate(a);
  t.abort(a);
  const b = obj();
  t.allocate(b);
  strictEqual(b.id, 1);
});

Deno.test("xa_alloc: EBUSY once the id limit is reached", () => {
  const t = new ObjectTable(() => 2);
  strictEqual(t.allocate(obj()), 0);
  strictEqual(t.allocate(obj()), 0);
  strictEqual(t.allocate(obj()), E.EBUSY);
});
