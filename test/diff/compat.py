#!/usr/bin/env python3
"""The compatibility table: every export Kamailio 5.6's documentation lists
for the modules sipr ships, with its state in sipr.

    test/diff/compat.py            writes docs/compatibility.md
    test/diff/compat.py --check    exits 1 when docs/compatibility.md is
                                   not what the tree gives (make test)

Sources: Kamailio's exports from the READMEs Debian installs
(/usr/share/doc/kamailio/modules/README.<module>.gz: the Parameters,
Functions, RPC Commands and Exported pseudo-variables sections of their
tables of contents); sipr's from `sipr --exports` (the real registries of
the core and the loaded modules); the diff bed's cases (a function, PV or
parameter a case's cfg uses has that case); the reasons for what sipr
does not have from test/diff/compat-notes.
"""
import gzip
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOCS = "/usr/share/doc/kamailio/modules"
MODULES = ["sl", "maxfwd", "sanity", "textops", "textopsx", "siputils", "pv", "xlog", "kex", "corex", "htable",
           "jsonrpcs", "tm", "tmx", "rr", "db_sqlite", "db_postgres", "usrloc", "registrar", "auth", "auth_db",
           "ctl", "cfg_rpc", "counters", "xhttp", "xhttp_prom"]
SECTIONS = {
    "parameters": "param",
    "functions": "fn",
    "rpc commands": "rpc",
    "jsonrpc commands": None,  # jsonrpcs' own protocol notes, not commands
    "exported pseudo-variables": "pv",
    "exported pseudo variables": "pv",
}
OUT = os.path.join(ROOT, "docs", "compatibility.md")


def kamailio_exports(module):
    """(kind, name, as documented) from the README's table of contents."""
    with gzip.open(os.path.join(DOCS, f"README.{module}.gz"), "rt", errors="replace") as f:
        text = f.read()
    toc = text[text.index("Table of Contents"):]
    end = min(i for i in (toc.find("List of Examples"), toc.find("Chapter 2"), toc.find("2. Developer Guide"),
                          len(toc)) if i > 0)
    kind = None
    out = []
    for line in toc[:end].splitlines():
        m = re.match(r"^\s+(\d+)\.\s+(.*)$", line)
        if m:
            kind = SECTIONS.get(m.group(2).strip().lower())
            continue
        m = re.match(r"^\s+\d+\.\d+\.\s+(.*)$", line)
        if m and kind:
            doc = m.group(1).strip()
            if kind == "fn":
                name = doc.split("(")[0].strip()
            elif kind == "param":
                name = doc.split(" (")[0].strip()
            elif kind == "pv":
                name = re.match(r"\$\(?([A-Za-z_]+)", doc).group(1)
            else:
                name = doc.split()[0]
            out.append((kind, name, doc))
    seen, uniq = set(), []
    for e in out:
        if (e[0], e[1]) not in seen:
            seen.add((e[0], e[1]))
            uniq.append(e)
    return uniq


def sipr_exports():
    sipr = os.environ.get("SIPR", os.path.join(ROOT, "target", "debug", "sipr"))
    out = subprocess.run([sipr, "--exports", "-L", os.path.dirname(sipr)] + MODULES, capture_output=True, text=True,
                         check=True).stdout
    have = set()
    for line in out.splitlines():
        owner, kind, name = line.split(" ", 2)
        have.add((owner, kind, name))
    return have


def suite_lines():
    """(suite, case, block, line) for every line of every suite file: the
    case a line belongs to ("(suite cfg)" before the first), and the block
    it sits in (cfg, routes, main, route, or None for directives)."""
    cdir = os.path.join(HERE, "cases")
    for f in sorted(os.listdir(cdir)):
        if not f.endswith(".cases"):
            continue
        suite = f[:-len(".cases")]
        case, block = "(suite cfg)", None
        for line in open(os.path.join(cdir, f)):
            line = line.rstrip("\n")
            if line.startswith("%case "):
                case, block = line.split()[1], None
                yield suite, case, None, line
                continue
            if line.startswith("%"):
                word = line[1:].split(" ")[0]
                block = word if word in ("cfg", "routes", "main", "route") else None
                yield suite, case, None, line
                continue
            yield suite, case, block, line


def case_uses():
    """Which cases use which names: {(kind, name): [case, ...]}."""
    uses = {}
    for suite, case, block, line in suite_lines():
        where = f"{suite}:{case}"
        if line.startswith(("%rpc ", "%rpcfifo ", "%kamcmd ", "%kamcmd-shape ")):
            uses.setdefault(("rpc", line.split()[1]), []).append(where)
            continue
        if line.startswith(("%kamctl rpc ", "%kamctl-shape rpc ")):
            uses.setdefault(("rpc", line.split()[2]), []).append(where)
            continue
        if line.startswith("%http "):
            # a JSON-RPC request over HTTP names its method in the body
            m = re.search(r'"method"\s*:\s*"([^"]+)"', line)
            if m:
                uses.setdefault(("rpc", m.group(1)), []).append(where)
            continue
        if line.startswith("%"):
            continue
        for m in re.finditer(r"\b([a-z_][a-z0-9_]*)\s*\(", line):
            uses.setdefault(("fn", m.group(1)), []).append(where)
        for m in re.finditer(r"\$\(?([A-Za-z_][A-Za-z0-9_]*)", line):
            uses.setdefault(("pv", m.group(1)), []).append(where)
        for m in re.finditer(r'modparam\("([a-z_][a-z0-9_]*)",\s*"([a-z_][a-z0-9_]*)"', line):
            uses.setdefault(("param", m.group(2)), []).append(where)
    return uses


def notes():
    """test/diff/compat-notes: MODULE KIND NAME|* reason."""
    out = {}
    for no, line in enumerate(open(os.path.join(HERE, "compat-notes")), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        module, kind, name, reason = line.split(None, 3)
        out[(module, kind, name)] = reason
    return out


def table():
    have = sipr_exports()
    uses = case_uses()
    why = notes()
    lines = ["# Compatibility with Kamailio 5.6", "",
             "Generated by `test/diff/compat.py` from Kamailio's module documentation (the READMEs Debian "
             "installs), sipr's registries (`sipr --exports`) and the differential bed's cases; `make test` "
             "fails when this file is not what the tree gives.", "",
             "- **same**: sipr has it and the bed ran it on both servers with the same result (the case named; "
             "differences where sipr follows the RFC are in `test/diff/deliberate`).",
             "- **sipr has it, no bed case yet**: implemented, not yet compared.",
             "- a note: present, and the note says how (refused at start-up, deliberately different, compared "
             "in part).",
             "- **not implemented**: with the reason.",
             "- **refused at start-up**: a setting sipr parses but does not support yet is refused with its "
             "file:line:column, never ignored.", ""]
    totals = {"same": 0, "noted": 0, "no case": 0, "missing": 0}
    unexplained = []
    for module in MODULES:
        rows = []
        for kind, name, doc in kamailio_exports(module):
            where = "core" if (("core", kind, name) in have and (module, kind, name) not in have) else module
            present = (module, kind, name) in have or ("core", kind, name) in have or (
                kind == "rpc" and any(h[1] == "rpc" and h[2] == name for h in have))
            cases = uses.get((kind, name), [])
            note_here = why.get((module, kind, name))
            if present and note_here:
                # taken by the cfg parser but refused at start-up, or a
                # deliberate difference: the note says which
                state = note_here
                totals["noted"] += 1
            elif present and cases:
                state = f"same ({cases[0]}" + (f", +{len(cases) - 1}" if len(cases) > 1 else "") + ")"
                totals["same"] += 1
            elif present:
                state = "sipr has it, no bed case yet"
                totals["no case"] += 1
            else:
                reason = why.get((module, kind, name)) or why.get((module, kind, "*")) or why.get((module, "*", "*"))
                if reason is None:
                    unexplained.append(f"{module} {kind} {name}")
                    continue
                state = f"not implemented: {reason}"
                totals["missing"] += 1
            note = " (in sipr's core)" if present and where == "core" else ""
            rows.append(f"| {kind} | `{doc}`{note} | {state} |")
        lines += [f"## {module}", "", "| kind | export | state |", "|---|---|---|"] + rows + [""]
    # the core: Kamailio's list (test/diff/kamailio-core, from the 5.6
    # cookbooks), each probed with `sipr -c` on a one-line cfg
    core_rows, core_totals = core_table(uses, why, unexplained, have)
    lines += ["## core", "",
              "The core's keywords, values, pre-processor directives, routing blocks, statements, operators, "
              "functions, parameters, pseudo-variables (the pv module's, which sipr's core provides) and "
              "transformations, as Kamailio 5.6's cookbooks list them (`test/diff/kamailio-core`). sipr's side is "
              "probed: each name is put in a one-line cfg that `sipr -c` must accept.", "",
              f"{core_totals['same']} same, {core_totals['no case']} without a bed case yet, "
              f"{core_totals['noted']} with a note, {core_totals['missing']} not implemented.", "",
              "| kind | name | state |", "|---|---|---|"] + core_rows + [""]
    if unexplained:
        raise SystemExit("compat: no reason in test/diff/compat-notes for what sipr lacks:\n  " + "\n  ".join(unexplained))
    lines.insert(2, f"Totals: {totals['same']} same, {totals['noted']} present with a note (refused at start-up, "
                    f"deliberately different, or compared in part), {totals['no case']} implemented without a bed "
                    f"case yet, {totals['missing']} not implemented.")
    lines.insert(3, "")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the core

PROBE_HEAD = """listen=udp:127.0.0.1:25399
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "textopsx.so"
loadmodule "corex.so"
loadmodule "kex.so"
"""


def probes(kind, name):
    """cfg texts that use `name` as a `kind`: sipr has it when one of them
    passes `sipr -c`."""
    route = lambda body: [PROBE_HEAD + "request_route {\n" + b + "\n}\nroute[R] { return 1; }\n" for b in body]
    if kind == "keyword" and name.startswith(("snd_", "to_ip", "to_port")):
        # onsend_route's own keywords
        return [PROBE_HEAD + "request_route { exit; }\nonsend_route {\n" + b + "\n}\n"
                for b in (f"if ({name} == 1) {{ drop; }}", f"if ({name} == 127.0.0.1) {{ drop; }}")]
    if kind == "keyword":
        return route([f'if ({name} == "x") {{ exit; }}', f"if ({name} == 1) {{ exit; }}",
                      f"if ({name} == 127.0.0.1) {{ exit; }}"])
    if kind == "value":
        return route([f"if ({k} == {name}) {{ exit; }}" for k in ("proto", "af", "uri")])
    if kind == "preprocessor":
        arg = {"define": "#!define X 1", "ifdef": "#!ifdef X\n#!endif", "ifndef": "#!ifndef X\n#!endif",
               "else": "#!ifdef X\n#!else\n#!endif", "endif": "#!ifdef X\n#!endif", "trydef": "#!trydef X",
               "redefine": "#!redefine X 2", "defenv": "#!defenv HOME", "defenvs": "#!defenvs HOME",
               "subst": '#!subst "/QQQ/b/"', "substdef": '#!substdef "/AB/b/"', "substdefs": '#!substdefs "/AC/b/"',
               "trydefenv": "#!trydefenv NO_SUCH_ENV_X", "trydefenvs": "#!trydefenvs NO_SUCH_ENV_X",
               "include_file": f'include_file "{EMPTY_FILE[0]}"', "import_file": 'import_file "/no/such/file"'}[name]
        return [arg + "\n" + PROBE_HEAD + "request_route { exit; }\n"]
    if kind == "block":
        extra = {"route": "route[X] { exit; }", "event_route": "event_route[core:worker-one-init] { exit; }"}
        blk = extra.get(name, f"{name} {{ exit; }}")
        alt = f"{name}[X] {{ exit; }}"
        main = "" if name == "request_route" else "request_route { exit; }\n"
        return [PROBE_HEAD + main + b + "\n" for b in (blk, alt)]
    if kind == "statement":
        body = {"if": "if (1) { exit; }", "switch": 'switch ($rU) { case "a": exit; default: exit; }',
                "while": "while (0) { exit; }", "break": 'switch ($rU) { case "a": break; }',
                "return": "return 1;", "exit": "exit;", "drop": "drop;", "route": "route(R);"}[name]
        return route([body])
    if kind == "op":
        if name in ("!", "~", "defined", "strlen", "strempty", "(int)", "(str)"):
            arg = '"1"' if name in ("strlen", "strempty", "(int)", "(str)") else "$var(a)"
            expr = f"{name}({arg})" if name in ("strlen", "strempty") else f"{name} {arg}"
        else:
            expr = f"$var(a) {name} 1"
        return route([f"if ({expr}) {{ exit; }}", f"$var(b) = {expr};"])
    if kind == "fn" and name == "selval":
        return route(["$var(t) = selval($rm == \"X\", 1, 2);"])
    if kind == "fn":
        args = ["", '"x"', "1", '"x", "y"', "1, 1", '"$var(x)"', "udp:127.0.0.1:5060", "UDP", '"a:1"']
        return route([f"{name}({a});" for a in args])
    if kind == "param":
        vals = ["1", "yes", '"x"', "udp:127.0.0.1:5070", "x.example.com", "LOG_LOCAL0", '"name=x;workers=1"']
        out = []
        for v in vals:
            if name in ("loadmodule", "loadmodulex"):
                line = f'{name} "maxfwd.so"'
            elif name in ("modparam", "modparamx"):
                line = f'{name}("xlog", "buf_size", 8192)'
            elif name == "flags":
                line = "flags FA: 1;"
            elif name == "description":
                line = 'g.v = 1 desc "d"'
            else:
                line = f"{name}={v}"
            out.append(PROBE_HEAD + line + "\nrequest_route { exit; }\n")
        return out
    if kind == "pv":
        forms = [f"${name}", f"${name}(x)", f"${name}(uri)", f"${name}(min)", f"${name}(year)", f"${name}(%Y)",
                 f"${name}($avp(x))", f"${name}(a=>b)", f"${name}(HOME)", f"${name}(1)", f"${name}(num)",
                 f"${name}(g.v)", f"${name}(cfg_get.g.v)"]
        # a custom global parameter for $ccp / $sel
        return [t.replace("request_route {", 'g.v = 1 desc "d"\nrequest_route {', 1)
                for t in route([f"$var(t) = {f};" for f in forms])]
    if kind == "tr":
        params = ["", ",1", ",1,1", ",a", ",a,b", ",/a/b/", ",%Y"]
        return route([f"$var(t) = $(var(x){{{name}{p}}});" for p in params])
    raise SystemExit(f"compat: unknown kind {kind}")


def sipr_probe(kind, name):
    """'yes', ('refused', message) or ('no', message)."""
    sipr = os.environ.get("SIPR", os.path.join(ROOT, "target", "debug", "sipr"))
    last = ""
    for text in probes(kind, name):
        path = os.path.join(PROBE_DIR[0], "probe.cfg")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([sipr, "-c", "-f", path, "-L", os.path.dirname(sipr)], capture_output=True, text=True,
                           timeout=20)
        if r.returncode == 0:
            return "yes"
        err = (r.stderr + r.stdout).strip().splitlines()
        err = [e for e in err if "probe.cfg" in e] or err
        last = err[0] if err else "refused"
        if "is not supported by sipr yet" in last:
            return ("refused", last.split(": ", 1)[-1])
    return ("no", last)


PROBE_DIR = [None]
EMPTY_FILE = [None]

# cfg lines the bed writes into every suite's cfg
BED_PARAMS = ["listen", "children", "tcp_children", "debug", "log_stderror", "disable_sctp", "auto_aliases", "dns",
              "rev_dns", "loadmodule"]


def core_uses(kind, name, case_lines):
    """The cases whose cfg uses `name` as a `kind`."""
    e = re.escape(name)
    pat = {
        "keyword": rf"\b{e}\s*(==|!=|=~|>=|<=|>|<)",
        "value": rf"(==|!=)\s*{e}\b",
        "preprocessor": rf"^\s*(#!)?{e}\b",
        "block": rf"^\s*{e}\s*(\[|{{)",
        "statement": rf"\b{e}\b\s*[(;{{ ]",
        "op": rf"\b{e}\b" if re.match(r"^[a-z]+$", name) else r"(?<![=!])~" if name == "~"
        else rf"(\(|\s)!\s*[$(a-z]" if name == "!" else re.escape(name),
        "param": r'\sdesc\s+"' if name == "description" else rf"^\s*{e}\b",
        "fn": rf"\b{e}\s*\(",
        "pv": rf"\$\(?{e}\b",
        "tr": rf"\{{{e}[,}}]",
    }[kind]
    rx = re.compile(pat)
    out = [w for w, line in case_lines if rx.search(line)]
    if kind == "param" and name in BED_PARAMS:
        out.insert(0, "(every suite's cfg)")
    if kind == "block" and name in ("request_route", "route"):
        out.insert(0, "(every suite's cfg)")
    if kind == "statement" and name in ("if", "exit", "route"):
        out.insert(0, "(every suite's cfg)")
    return out


def case_lines():
    """(where, line) of every cfg line in the suites."""
    return [(f"{suite}:{case}", line) for suite, case, block, line in suite_lines() if block]


def core_table(uses, why, unexplained, have):
    import tempfile
    PROBE_DIR[0] = tempfile.mkdtemp(prefix="sipr-compat.")
    EMPTY_FILE[0] = os.path.join(PROBE_DIR[0], "empty.cfg")
    open(EMPTY_FILE[0], "w").close()
    lines_of_cases = case_lines()
    rows = []
    totals = {"same": 0, "no case": 0, "noted": 0, "missing": 0}
    try:
        for line in open(os.path.join(HERE, "kamailio-core")):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            kind, name = parts[0], parts[1]
            owner = parts[2] if len(parts) > 2 else None
            note = why.get(("core", kind, name)) or why.get(("core", kind, "*"))
            shown = f"${name}" if kind == "pv" else f"{{{name}}}" if kind == "tr" else f"{name}()" if kind == "fn" \
                else name
            if owner:
                shown += f" ({owner})"
            # a module's name (rr's $route_uri) is in that module's registry
            got = "yes" if owner and (owner, kind, name) in have else sipr_probe(kind, name)
            cases = core_uses(kind, name, lines_of_cases)
            if got == "yes" and why.get(("core", kind, name)):
                state = why[("core", kind, name)]
                totals["noted"] += 1
            elif got == "yes" and cases:
                state = f"same ({cases[0]}" + (f", +{len(cases) - 1}" if len(cases) > 1 else "") + ")"
                totals["same"] += 1
            elif got == "yes":
                state = "sipr has it, no bed case yet"
                totals["no case"] += 1
            elif got[0] == "refused":
                state = f"refused at start-up: {got[1]}"
                totals["noted"] += 1
            elif note:
                state = f"not implemented: {note}"
                totals["missing"] += 1
            else:
                unexplained.append(f"core {kind} {name} ({got[1]})")
                continue
            cell = state.replace("|", "\\|")
            rows.append(f"| {kind} | `{shown}` | {cell} |")
    finally:
        import shutil
        shutil.rmtree(PROBE_DIR[0], ignore_errors=True)
    return rows, totals


def main():
    text = table()
    if "--check" in sys.argv:
        current = open(OUT).read() if os.path.exists(OUT) else ""
        if current != text:
            print("compat: docs/compatibility.md is stale: run test/diff/compat.py", file=sys.stderr)
            return 1
        print("compat: docs/compatibility.md is up to date")
        return 0
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(text.splitlines()[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
