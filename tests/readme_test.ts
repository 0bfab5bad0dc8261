/**
 * README.md's tour is a transcript: the script it shows (`$ cat tour.vfs`), then what
 * `vfsh run tour.vfs` prints. Run the one and compare with the other, so that the first thing
 * a newcomer reads cannot drift from what the shell does.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

/** The tour's script and its printed transcript, as README.md shows them. */
export function tourOf(readme: string): { script: string; transcript: string } {
  const tour = readme.match(/<!-- tour:start -->([\s\S]*?)<!-- tour:end -->/)?.[1];
  if (tour === undefined) throw new Error("README.md: no <!-- tour:start --> … <!-- tour:end -->");
  const m = tour.match(
    /```\n\$ cat tour\.vfs\n([\s\S]*?)\n\$ npx -y deno@[\d.]+ task vfsh run tour\.vfs\n([\s\S]*?)```/,
  );
  if (!m) throw new Error("README.md: the tour has no `$ cat tour.vfs` / `vfsh run` block");
  return { script: m[1].trimEnd() + "\n", transcript: m[2] };
}

Deno.test("readme: the tour's script prints the transcript the README shows", async () => {
  const { script, transcript } = tourOf(await Deno.readTextFile(ROOT + "README.md"));
  const dir = await Deno.makeTempDir({ prefix: "vfsh_tour_" });
  try {
    await Deno.writeTextFile(`${dir}/tour.vfs`, script);
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", ROOT + "shell/main.ts", "run", "tour.vfs"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stderr));
    assert.equal(dec.decode(r.stdout), transcript);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readme: tourOf finds the script and the transcript, and says when it cannot", () => {
  const readme = "x\n<!-- tour:start -->\n```\n$ cat tour.vfs\ncontainer open\n\n" +
    "$ npx -y deno@2.9.6 task vfsh run tour.vfs\n== tour.vfs\nok\n```\n<!-- tour:end -->\n";
  assert.deepEqual(tourOf(readme), {
    script: "container open\n",
    transcript: "== tour.vfs\nok\n",
  });
  assert.throws(() => tourOf("no tour"), /no <!-- tour:start -->/);
  assert.throws(
    () => tourOf("<!-- tour:start -->\n```\n$ ls\n```\n<!-- tour:end -->"),
    /no `\$ cat tour\.vfs`/,
  );
});
