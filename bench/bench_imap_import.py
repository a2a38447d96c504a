"""Benchmark: IMAP import of N realistic messages from a local Dovecot.

    python bench/bench_imap_import.py                    # 20,000 messages
    python bench/bench_imap_import.py -n 4000 --runs 3   # median of 3 runs of each
    python bench/bench_imap_import.py --mbox             # also the same mail from an mbox
    python bench/bench_imap_import.py --tls              # every client over implicit TLS

Starts a throwaway Dovecot (tests/servers/dovecot.py), seeds INBOX and Sent by
writing Maildir files (mixed sizes: short replies, HTML mail, attachments, a
few large ones; utf-8, iso-8859-2, windows-1250, koi8-r), then runs, each in a
fresh process so peak memory is its own:

  floor   a bare imaplib loop: EXAMINE, then ``UID FETCH a:b (UID RFC822.SIZE
          INTERNALDATE BODY.PEEK[])`` over the very ranges deskmove sends
  wire    deskmove's IMAP layer alone (STATUS, EXAMINE, UID listing, the same
          fetches, fingerprints, RawMail objects) — no parsing, no store
  import  ``deskmove import imap://…`` end to end: fetch, MIME parsing,
          threading, blobs and SQLite writes (mail parsed in worker processes,
          one per core; ``DESKMOVE_WORKERS=1`` for one process)
  mbsync  the peer: isync's ``mbsync`` pulling the same folders into a Maildir
          (Debian package ``isync``), a mature C IMAP client doing only the copy; it
          fsyncs every mail it writes (its default), so its wall time is mostly the
          disk's; it runs a second time with ``FSync No``, the copy alone
  mbox    (``--mbox``) ``deskmove import mbox:…`` of the very same mails written
          to one mbox file in date order, as an export of both folders would be

and prints messages/s, the ratio to the floor and peak RSS for each (the process
itself; beside it the largest of its children: a parsing worker, mbsync): the median
of ``--runs`` runs (phases interleaved, so a busy machine weighs on each alike; the
disk is synced before each, so no run flushes what the one before wrote), with the
load average beside each figure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _common import compiled  # noqa: E402

FOLDERS = ("INBOX", "Sent")
LOREM = {
    "utf-8": "Dobrý den, objednávka ještě nedorazila. Prosím o kontrolu zásilky a vrácení peněz. ",
    "iso-8859-2": "Dzień dobry, zamówienie nie dotarło. Proszę o sprawdzenie przesyłki. ",
    "windows-1250": "Dobrý den, reklamuji poškozené zboží, přikládám fotografie a účtenku. ",
    "koi8-r": "Здравствуйте, заказ до сих пор не пришёл. Пожалуйста, проверьте посылку. ",
}


# -- seeding ------------------------------------------------------------------------------
def make_mail(i: int, rng: random.Random) -> tuple[str, bytes, float]:
    """(folder, raw CRLF bytes, date) with a realistic size mix."""
    sent = rng.random() < 0.3
    folder = "Sent" if sent else "INBOX"
    when = 1_700_000_000 + i * 97 + rng.randint(0, 50)
    customer = f"zakaznik{rng.randint(1, 3000)}@example.cz"
    frm, to = ("support@shop.example", customer) if sent else (customer, "support@shop.example")
    charset = rng.choice(list(LOREM))
    thread = rng.randint(0, i // 3 + 1)
    head = [
        f"From: {frm}",
        f"To: {to}",
        f"Subject: {'Re: ' if sent else ''}Objednávka {thread}",
        f"Date: {format_datetime(datetime.fromtimestamp(when).astimezone())}",
        f"Message-ID: <bench{i}@{'shop' if sent else 'example'}.cz>",
        "MIME-Version: 1.0",
        "Received: from mx.example.cz (mx.example.cz [192.0.2.1]) by mail.shop.example",
    ]
    if thread and thread < i:
        head.append(f"In-Reply-To: <bench{thread}@example.cz>")
        head.append(f"References: <bench{thread}@example.cz>")
    head[2] = "Subject: =?utf-8?b?" + base64.b64encode(head[2][9:].encode()).decode() + "?="
    text = LOREM[charset] * rng.randint(3, 40)
    body = text.encode(charset, "replace")
    roll = rng.random()
    if roll < 0.75:
        parts = [(f"text/plain; charset={charset}", "8bit", body)]
    elif roll < 0.92:
        html = ("<html><body><p>" + text.replace(". ", ".</p><p>") + "</p></body></html>") * 3
        parts = [
            (f"text/plain; charset={charset}", "8bit", body),
            (f"text/html; charset={charset}", "8bit", html.encode(charset, "replace")),
        ]
    else:
        size = rng.randint(30_000, 200_000) if roll < 0.99 else rng.randint(500_000, 1_500_000)
        blob = base64.encodebytes(rng.randbytes(size)).replace(b"\n", b"\r\n")
        parts = [
            (f"text/plain; charset={charset}", "8bit", body),
            ("application/pdf", "base64", blob),
        ]
    if len(parts) == 1:
        ctype, cte, payload = parts[0]
        head += [f"Content-Type: {ctype}", f"Content-Transfer-Encoding: {cte}"]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload.replace(b"\n", b"\r\n")
        return folder, raw, when
    kind = "alternative" if parts[1][0].startswith("text/html") else "mixed"
    head.append(f'Content-Type: multipart/{kind}; boundary="b{i}"')
    out = [("\r\n".join(head) + "\r\n\r\n").encode()]
    for ctype, cte, payload in parts:
        name = '; name="faktura.pdf"' if ctype == "application/pdf" else ""
        out.append(
            f"--b{i}\r\nContent-Type: {ctype}{name}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n".encode()
        )
        out.append(payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n")
    out.append(f"--b{i}--\r\n".encode())
    return folder, b"".join(out), when


def seed(server, n: int, mbox: Path | None = None) -> int:
    """Write ``n`` mails into the server's Maildir (and, with ``mbox``, the same into an mbox)."""
    import pwd

    owner = pwd.getpwnam("dovecot") if os.geteuid() == 0 else None
    rng = random.Random(20240301)
    dirs = {"INBOX": server.maildir, "Sent": server.maildir / ".Sent"}
    for d in dirs.values():
        for sub in ("cur", "new", "tmp"):
            (d / sub).mkdir(parents=True, exist_ok=True)
    (dirs["Sent"] / "maildirfolder").touch()
    total = 0
    out = mbox.open("wb") if mbox else None
    for i in range(n):
        folder, raw, when = make_mail(i, rng)
        path = dirs[folder] / "cur" / f"{when}.M{i}P1.bench,S={len(raw)}:2,S"
        path.write_bytes(raw)
        os.utime(path, (when, when))
        total += len(raw)
        if out:  # mboxrd, LF line ends, as an mbox export writes them
            stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(when))
            out.write(f"From MAILER-DAEMON {stamp}\n".encode())
            body = raw.replace(b"\r\n", b"\n")
            body = re.sub(rb"^(>*From )", rb">\1", body, flags=re.M)
            out.write(body + (b"\n" if body.endswith(b"\n") else b"\n\n"))
    if out:
        out.close()
    if owner:
        for p in [server.maildir, *server.maildir.rglob("*")]:
            os.chown(p, owner.pw_uid, owner.pw_gid)
    with server.session() as imap:  # let Dovecot index both folders now, outside the timings
        for folder in FOLDERS:
            imap.select(folder, readonly=True)
            imap.uid("FETCH", "1:*", "(UID RFC822.SIZE INTERNALDATE)")
    return total


# -- the three runs (each in its own process) ------------------------------------------------
def ranges(cfg: dict) -> dict[str, list[tuple[int, int]]]:
    from deskmove.sources.imap import DEFAULT_BATCH, DEFAULT_BATCH_BYTES, plan_batches
    from deskmove.sources.imap_client import ImapClient

    tls = "implicit" if cfg.get("cafile") else "none"
    c = ImapClient("127.0.0.1", cfg["port"], tls=tls, timeout=60, cafile=cfg.get("cafile"))
    c.connect()
    c.login(cfg["user"], cfg["password"], "x")
    out = {}
    for folder in FOLDERS:
        c.examine(folder)
        out[folder] = [
            (ch[0][0], ch[-1][0])
            for ch in plan_batches(c.uid_sizes(folder, 0), DEFAULT_BATCH, DEFAULT_BATCH_BYTES)
        ]
    c.close()
    return out


def run_floor(cfg: dict) -> int:
    import imaplib

    plan = {k: [tuple(r) for r in v] for k, v in cfg["ranges"].items()}
    if cfg.get("cafile"):
        import ssl

        ctx = ssl.create_default_context(cafile=cfg["cafile"])
        imap = imaplib.IMAP4_SSL("127.0.0.1", cfg["port"], ssl_context=ctx, timeout=60)
    else:
        imap = imaplib.IMAP4("127.0.0.1", cfg["port"], timeout=60)
    cred = f"\0{cfg['user']}\0{cfg['password']}".encode()
    imap.authenticate("PLAIN", lambda _: cred)
    count = 0
    for folder in FOLDERS:
        imap.select(folder, readonly=True)
        for a, b in plan[folder]:
            _, data = imap.uid("FETCH", f"{a}:{b}", "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])")
            count += sum(1 for d in data if isinstance(d, tuple))
    imap.logout()
    return count


def run_wire(cfg: dict) -> int:
    from deskmove.config import Project, parse_spec
    from deskmove.sources.imap import DEFAULT_BATCH, DEFAULT_BATCH_BYTES, ImapSource, plan_batches

    src = ImapSource(parse_spec(cfg["spec"]), Project(Path(cfg["dir"]), {}))
    client = src._session()
    count = 0
    for folder in FOLDERS:
        client.status(folder)
        uidvalidity = client.examine(folder)
        pending = client.uid_sizes(folder, 0)
        for chunk in plan_batches(pending, DEFAULT_BATCH, DEFAULT_BATCH_BYTES):
            count += len(src._fetch(client, folder, uidvalidity, chunk))
    src.close()
    return count


def run_import(cfg: dict, spec: str | None = None) -> int:
    from deskmove.config import Project, init_project
    from deskmove.sync import import_source, open_store

    root = Path(tempfile.mkdtemp(prefix="project-", dir=cfg["dir"]))
    init_project(root)
    toml = root / "deskmove.toml"
    toml.write_text(
        toml.read_text().replace(
            "support_addresses = []", 'support_addresses = ["support@shop.example"]'
        )
    )
    project = Project.load(root)
    store = open_store(project)
    try:
        report = import_source(project, store, spec or cfg["spec"])
    finally:
        store.close()
    return report.read


def run_mbox(cfg: dict) -> int:
    return run_import(cfg, f"mbox:{cfg['mbox']}")


def run_mbsync_nofsync(cfg: dict) -> int:
    return run_mbsync(cfg, fsync=False)


def run_mbsync(cfg: dict, fsync: bool = True) -> int:
    binary = shutil.which("mbsync")
    if not binary:
        raise SystemExit("mbsync not found (apt-get install isync)")
    work = Path(tempfile.mkdtemp(prefix="mbsync-", dir=cfg["dir"]))
    (work / "mail").mkdir(parents=True, exist_ok=True)
    (work / "password").write_text(cfg["password"], "utf-8")
    conf = work / "mbsyncrc"
    tls, host = "SSLType None\n", "127.0.0.1"
    if cfg.get("cafile"):  # mbsync matches the certificate by name, not by IP address
        tls, host = f"SSLType IMAPS\nCertificateFile {cfg['cafile']}\n", "localhost"
    conf.write_text(
        ("" if fsync else "FSync No\n\n")
        + f"IMAPAccount bench\nHost {host}\nPort {cfg['port']}\nUser {cfg['user']}\n"
        f'PassCmd "cat {work / "password"}"\n{tls}AuthMechs PLAIN\n\n'
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {work / 'mail'}/\nInbox {work / 'mail' / 'INBOX'}\n"
        "SubFolders Verbatim\n\n"
        "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX Sent\nCreate Near\n"
        f"Sync Pull\nExpunge None\nSyncState {work}/\n",
        "utf-8",
    )
    subprocess.run([binary, "-q", "-c", str(conf), "bench"], check=True, timeout=3600)
    return sum(
        1 for p in (work / "mail").rglob("*") if p.is_file() and p.parent.name in ("cur", "new")
    )


def child(phase: str, cfg: dict) -> None:
    os.environ["DESKMOVE_IMAP_PASSWORD"] = cfg["password"]
    fn = {
        "floor": run_floor,
        "wire": run_wire,
        "import": run_import,
        "mbsync": run_mbsync,
        "mbsync-nofsync": run_mbsync_nofsync,
        "mbox": run_mbox,
    }[phase]
    if phase != "floor":  # load deskmove before the clock starts (the floor loads imaplib only)
        import deskmove.mail.batcher  # noqa: F401
        import deskmove.sources.imap  # noqa: F401
        import deskmove.sync  # noqa: F401
    start, cpu = time.perf_counter(), _cpu()
    count = fn(cfg)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest worker
    out = {"count": count, "seconds": seconds, "cpu": cpu, "peak_mb": peak, "kids_mb": kids}
    print(json.dumps(out))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (worker processes, mbsync)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


PHASES = (
    ("floor", "floor: bare imaplib loop"),
    ("mbsync", "peer: mbsync to a Maildir"),
    ("mbsync-nofsync", "mbsync, FSync No"),
    ("wire", "deskmove IMAP layer"),
    ("import", "deskmove import, end to end"),
    ("mbox", "same mail from an mbox"),
)


def _run(phase: str, cfg: dict) -> dict:
    # What the run before wrote is flushed first: an fsync (mbsync's per mail, SQLite's at a
    # checkpoint) would otherwise wait for the other phase's dirty pages as well as its own.
    os.sync()
    load = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--cfg", json.dumps(cfg)],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    if out.returncode:
        sys.exit(f"{phase} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["load"] = (load + os.getloadavg()[0]) / 2
    return result


def _median(runs: list[dict]) -> dict:
    """The run with the median wall time (its own CPU, memory and load beside it)."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--messages", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=1, help="runs of each phase; the median is shown")
    ap.add_argument("--mbox", action="store_true", help="also import the same mail from an mbox")
    ap.add_argument("--tls", action="store_true", help="over implicit TLS (port 993's way)")
    ap.add_argument("--phases", default="", help="comma-separated subset, e.g. import,mbox")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        child(args.phase, json.loads(args.cfg))
        return
    compiled(ROOT / "src")
    from tests.servers.dovecot import DovecotServer

    names = [p for p, _ in PHASES if p != "mbox" or args.mbox]
    if args.phases:
        names = [p for p in args.phases.split(",") if p]
    server = DovecotServer()
    work = tempfile.mkdtemp(prefix="deskmove-bench-imap-")
    try:
        server.start()
        t = time.perf_counter()
        mbox = Path(work) / "same.mbox" if "mbox" in names else None
        size = seed(server, args.messages, mbox)
        print(
            f"seeded {args.messages} messages, {size / 2**20:.0f} MB, in {time.perf_counter() - t:.1f}s"
        )
        port, query = server.port, "tls=none"
        if args.tls:
            port, query = server.tls_port, f"tls=implicit&cafile={server.cafile}"
        cfg = {
            "port": port,
            "user": server.user,
            "password": server.password,
            "dir": work,
            "spec": f"imap://support%40shop.example@127.0.0.1:{port}/INBOX,Sent?{query}",
            "mbox": str(mbox),
            "cafile": str(server.cafile) if args.tls else None,
        }
        cfg["ranges"] = ranges(cfg)
        runs: dict[str, list[dict]] = {p: [] for p in names}
        for _ in range(args.runs):
            for phase in names:
                runs[phase].append(_run(phase, cfg))
        results = {p: _median(r) for p, r in runs.items()}
        base = results.get("floor") or next(iter(results.values()))
        floor = base["count"] / base["seconds"]
        print(f"median of {args.runs} run(s); load = the 1-minute load average during the run")
        for phase, label in PHASES:
            if phase not in results:
                continue
            r = results[phase]
            rate = r["count"] / r["seconds"]
            walls = "/".join(f"{x['seconds']:.1f}" for x in runs[phase])
            print(
                f"{label:<30} {r['count']:>6} msgs {r['seconds']:7.1f}s wall {r['cpu']:7.1f}s cpu "
                f"{rate:8.0f} msg/s {rate / floor:5.2f}x floor  peak RSS {r['peak_mb']:.0f} MB"
                + (f" (largest child {r['kids_mb']:.0f} MB)  " if r.get("kids_mb") else "  ")
                + f"load {r['load']:.1f}  (walls {walls})"
            )
        ours, peer = results.get("import"), results.get("mbsync")
        if ours and peer:
            print(
                f"deskmove import / mbsync: {ours['seconds'] / peer['seconds']:.2f}x the time, "
                f"{ours['cpu'] / peer['cpu']:.2f}x the CPU (mbsync's includes nothing of Dovecot's)"
            )
        bare = results.get("mbsync-nofsync")
        if ours and bare:
            print(
                f"deskmove import / mbsync with FSync No: {ours['seconds'] / bare['seconds']:.2f}x "
                f"the time, {ours['cpu'] / bare['cpu']:.2f}x the CPU"
            )
        other = results.get("mbox")
        if ours and other:
            print(
                f"IMAP {ours['count'] / ours['seconds']:.0f} msg/s vs mbox "
                f"{other['count'] / other['seconds']:.0f} msg/s for the same mail "
                f"(CPU {ours['cpu']:.1f} vs {other['cpu']:.1f} s)"
            )
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
