/**
 * The few POSIX path functions the shell needs on every start (`resolve`, `join`, `dirname`,
 * `isAbsolute`), written out as node:path has them: importing node:path makes Deno load its
 * Node compatibility modules, which costs more than the rest of a `vfsh -c` start.
 * _path_test.ts checks them against node:path.
 *
 * @module
 */

const SLASH = 47;
const DOT = 46;

/** Resolve `.` and `..` segments and repeated slashes of `path` (node's normalizeString). */
function normalizeString(path: string, allowAboveRoot: boolean): string {
  let res = "";
  let lastSegmentLength = 0;
  let lastSlash = -1;
  let dots = 0;
  let code = 0;
  for (let i = 0; i <= path.length; ++i) {
    if (i < path.length) code = path.charCodeAt(i);
    else if (code === SLASH) break;
    else code = SLASH;
    if (code === SLASH) {
      if (lastSlash === i - 1 || dots === 1) {
        // an empty or `.` segment
      } else if (dots === 2) {
        if (
          res.length < 2 || lastSegmentLength !== 2 || res.charCodeAt(res.length - 1) !== DOT ||
          res.charCodeAt(res.length - 2) !== DOT
        ) {
          if (res.length > 2) {
            const lastSlashIndex = res.lastIndexOf("/");
            if (lastSlashIndex === -1) {
              res = "";
              lastSegmentLength = 0;
            } else {
              res = res.slice(0, lastSlashIndex);
              lastSegmentLength = res.length - 1 - res.lastIndexOf("/");
            }
            lastSlash = i;
            dots = 0;
            continue;
          } else if (res.length !== 0) {
            res = "";
            lastSegmentLength = 0;
            lastSlash = i;
            dots = 0;
            continue;
          }
        }
        if (allowAboveRoot) {
          res += res.length > 0 ? "/.." : "..";
          lastSegmentLength = 2;
        }
      } else {
        if (res.length > 0) res += "/" + path.slice(lastSlash + 1, i);
        else res = path.slice(lastSlash + 1, i);
        lastSegmentLength = i - lastSlash - 1;
      }
      lastSlash = i;
      dots = 0;
    } else if (code === DOT && dots !== -1) {
      ++dots;
    } else {
      dots = -1;
    }
  }
  return res;
}

/** Whether `path` starts at the root. */
export function isAbsolute(path: string): boolean {
  return path.length > 0 && path.charCodeAt(0) === SLASH;
}

/** `path` without `.`/`..` segments and repeated slashes (a trailing slash is kept). */
export function normalize(path: string): string {
  if (path.length === 0) return ".";
  const abs = isAbsolute(path);
  const trailing = path.charCodeAt(path.length - 1) === SLASH;
  let p = normalizeString(path, !abs);
  if (p.length === 0) {
    if (abs) return "/";
    return trailing ? "./" : ".";
  }
  if (trailing) p += "/";
  return abs ? "/" + p : p;
}

/** The parts joined with `/`, normalized. */
export function join(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p.length > 0);
  return nonEmpty.length === 0 ? "." : normalize(nonEmpty.join("/"));
}

/** An absolute, normalized path: the parts resolved right to left, then the working directory. */
export function resolve(...parts: string[]): string {
  let resolved = "";
  let abs = false;
  for (let i = parts.length - 1; i >= -1 && !abs; i--) {
    const p = i >= 0 ? parts[i] : Deno.cwd();
    if (p.length === 0) continue;
    resolved = `${p}/${resolved}`;
    abs = p.charCodeAt(0) === SLASH;
  }
  resolved = normalizeString(resolved, !abs);
  if (abs) return "/" + resolved;
  return resolved.length > 0 ? resolved : ".";
}

/** The directory part of `path`. */
export function dirname(path: string): string {
  if (path.length === 0) return ".";
  const hasRoot = path.charCodeAt(0) === SLASH;
  let end = -1;
  let matchedSlash = true;
  for (let i = path.length - 1; i >= 1; --i) {
    if (path.charCodeAt(i) === SLASH) {
      if (!matchedSlash) {
        end = i;
        break;
      }
    } else {
      matchedSlash = false;
    }
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

/** The path from directory `from` to `to` (both resolved first); `""` when they are the same. */
export function relative(from: string, to: string): string {
  const a = resolve(from);
  const b = resolve(to);
  if (a === b) return "";
  const as = a === "/" ? [] : a.slice(1).split("/");
  const bs = b === "/" ? [] : b.slice(1).split("/");
  let common = 0;
  while (common < as.length && common < bs.length && as[common] === bs[common]) common++;
  return [...as.slice(common).map(() => ".."), ...bs.slice(common)].join("/");
}
