import { ok, strictEqual } from "node:assert";
import { removedAfter } from "./cleanup.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("removedAfter: the folder goes when the work ends, and the work's value comes back", async () => {
  const dir = await Deno.makeTempDir();
  strictEqual(await removedAfter(dir, () => Promise.resolve(7)), 7);
  ok(!await exists(dir));
});

Deno.test("removedAfter: SIGTERM mid-work removes the folder and exits 143", async () => {
  const dir = await Deno.makeTempDir();
  const module = new URL("./cleanup.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { removedAfter } from ${JSON.stringify(module)};
       await removedAfter(${JSON.stringify(dir)}, () => {
         console.log("ready");
         return new Promise(() => setInterval(() => {}, 1000));
       });`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  strictEqual(new TextDecoder().decode(value).trim(), "ready");
  child.kill("SIGTERM");
  reader.releaseLock();
  await child.stdout.cancel();
  strictEqual((await child.status).code, 143);
  ok(!await exists(dir), `${dir} is still there`);
});
