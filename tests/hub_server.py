"""An in-memory Hugging Face Hub on 127.0.0.1, speaking the HTTP API that huggingface_hub 2.x uses, for tests.

    with HubServer(port, tokens={"tok-alice": "alice", "tok-bob": "bob"}) as hub:
        ...  # HF_ENDPOINT=http://127.0.0.1:PORT must be set before huggingface_hub is imported

Standard library only (PyYAML, a huggingface_hub dependency, is used when present to check README metadata).
The real client talks to it over real HTTP: nothing in huggingface_hub is patched or mocked.

Implements (model repos):
  GET  /api/whoami-v2                          the token's user; 401 for a missing or unknown token
  POST /api/repos/create                       409 + "url" when it exists (what create_repo(exist_ok=True) reads),
                                               403 in another user's namespace, "private"/"visibility"
  POST /api/validate-yaml                      README.md front matter must parse to a mapping (400 otherwise)
  POST /api/models/{repo}/preupload/{rev}      every file "regular" (no LFS/Xet), with the current blob oid so
                                               that unchanged files are skipped by the client
  POST /api/models/{repo}/commit/{rev}         NDJSON: header (+ parentCommit check, 412), file (base64),
                                               deletedFile, deletedFolder; each commit gets a 40-hex sha
  GET  /api/models/{repo}[/revision/{rev}]     id, sha, private, siblings (size/blobId with ?blobs=true), cardData
  GET  /api/models/{repo}/tree/{rev}[/{path}]  ?recursive=true; files and directories, one page
  HEAD/GET /{repo}/resolve/{rev}/{path}        X-Repo-Commit, ETag (git blob sha1), Content-Length, Range (206)
Revisions: "main" and any full commit sha of the repo's history. New repos start with a .gitattributes commit.
Access: private repos answer 404 RepoNotFound to anyone but their owner; writes need the owner's token
(401 without a valid token, 403 for another user's public repo); an unknown token on a read is 401
"Invalid credentials in Authorization header", as on the Hub. Errors carry X-Error-Code (RepoNotFound,
RevisionNotFound, EntryNotFound) and X-Error-Message headers plus {"error": ...} bodies.

Does not implement: LFS and Xet uploads or downloads (an "lfsFile" commit line is a 400), datasets/spaces,
organizations, branches other than main, tags, pull requests (create_pr is a 400), gated repos, repo
deletion/renaming/settings, copies, pagination, redirects to a CDN, rate limits, /api/models search.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's oid and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    owner: str
    name: str
    private: bool = False
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)  # (sha, files), oldest first
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))

    def commit(self, files: dict[str, bytes], message: str) -> str:
        parent = self.commits[-1][0] if self.commits else ""
        blobs = sorted((p, git_blob_sha1(b)) for p, b in files.items())
        sha = hashlib.sha1(json.dumps([parent, blobs, message, len(self.commits)]).encode()).hexdigest()
        self.commits.append((sha, dict(files)))
        return sha

    def at(self, rev: str) -> tuple[str, dict[str, bytes]] | None:
        if rev == "main":
            return self.commits[-1]
        return next((c for c in self.commits if _SHA.match(rev) and c[0] == rev), None)


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **body):
        super().__init__(message)
        self.status, self.code, self.headers, self.body = status, code, headers or {}, {"error": message, **body}


class HubServer:
    """A threaded HTTP server holding repos in memory; `tokens` maps token -> user name."""

    def __init__(self, port: int = 0, tokens: dict[str, str] | None = None, host: str = "127.0.0.1"):
        self.tokens = dict(tokens or {})
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for assertions
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self
        self.host, self.port = host, self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "HubServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hub-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # helpers for tests: seed a repo without going through the API, read what a repo holds
    def add_repo(self, repo_id: str, files: dict[str, bytes] | None = None, private: bool = False) -> Repo:
        owner, name = repo_id.split("/")
        with self.lock:
            repo = self.repos[repo_id] = Repo(owner, name, private)
            repo.commit({".gitattributes": GITATTRIBUTES}, "initial commit")
            if files:
                repo.commit({".gitattributes": GITATTRIBUTES, **files}, "Upload files")
        return repo

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        return dict(self.repos[repo_id].at(rev)[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers across server restarts
    ROUTES = [
        ("GET", re.compile(r"^/api/whoami-v2$"), "whoami"),
        ("POST", re.compile(r"^/api/repos/create$"), "create"),
        ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
        ("POST", re.compile(r"^/api/models/([^/]+)/([^/]+)/preupload/([^/]+)$"), "preupload"),
        ("POST", re.compile(r"^/api/models/([^/]+)/([^/]+)/commit/([^/]+)$"), "commit"),
        ("GET", re.compile(r"^/api/models/([^/]+)/([^/]+)/tree/([^/]+)(?:/(.*))?$"), "tree"),
        ("GET", re.compile(r"^/api/models/([^/]+)/([^/]+)(?:/revision/([^/]+))?$"), "info"),
        ("GET", re.compile(r"^/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$"), "resolve"),
        ("HEAD", re.compile(r"^/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$"), "resolve"),
    ]

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.hub.requests.append((method, url.path))
        try:
            for m, pattern, name in self.ROUTES:
                match = pattern.match(url.path)
                if m == method and match:
                    args = [unquote(g) if g is not None else None for g in match.groups()]
                    with self.hub.lock:
                        return getattr(self, "_" + name)(*args)
            raise _HttpError(404, f"no route {method} {url.path} on this test Hub")
        except _HttpError as e:
            headers = {"X-Error-Message": str(e).encode("ascii", "replace").decode(), **e.headers}
            if e.code:
                headers["X-Error-Code"] = e.code
            self._send(e.status, e.body, headers)

    # -- plumbing
    def _send(self, status: int, body, headers: dict | None = None, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while (size := int(self.rfile.readline().split(b";")[0], 16)) > 0:
                out += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return out
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self) -> dict:
        try:
            return json.loads(self._body() or b"{}")
        except json.JSONDecodeError as e:
            raise _HttpError(400, f"invalid JSON body: {e}") from e

    def _user(self, required: bool = False) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth:
            if required:
                raise _HttpError(401, "You must be authenticated to access this resource (no token sent)")
            return None
        user = self.hub.tokens.get(auth.removeprefix("Bearer ").strip())
        if user is None:
            raise _HttpError(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, owner: str, name: str, write: bool = False) -> Repo:
        user = self._user(required=write)
        repo = self.hub.repos.get(f"{owner}/{name}")
        if repo is None or (repo.private and user != repo.owner):
            raise _HttpError(404, "Repository not found", "RepoNotFound")
        if write and user != repo.owner:
            raise _HttpError(403, f"You don't have the rights to write to {owner}/{name} (it belongs to {owner})")
        return repo

    def _rev(self, repo: Repo, rev: str) -> tuple[str, dict[str, bytes]]:
        commit = repo.at(rev or "main")
        if commit is None:
            raise _HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    def _write_target(self, owner: str, name: str, rev: str) -> Repo:
        repo = self._repo(owner, name, write=True)
        if self.query.get("create_pr"):
            raise _HttpError(400, "pull requests are not supported by this test Hub")
        if rev != "main":
            raise _HttpError(404, f"Invalid rev id: {rev} (this test Hub only writes to main)", "RevisionNotFound")
        return repo

    # -- endpoints
    def _whoami(self):
        user = self._user(required=True)
        self._send(200, {"type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user,
                         "fullname": user.title(), "orgs": [], "isPro": False,
                         "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _create(self):
        user, body = self._user(required=True), self._json()
        if body.get("type") not in (None, "model"):
            raise _HttpError(400, "this test Hub only hosts model repos")
        namespace, name = body.get("organization") or user, body.get("name") or ""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name):
            raise _HttpError(400, f"invalid repo name {name!r}")
        if namespace != user:
            raise _HttpError(403, f"You don't have the rights to create a model under the namespace \"{namespace}\"")
        repo_id, url = f"{namespace}/{name}", f"{self.hub.url}/{namespace}/{name}"
        if repo_id in self.hub.repos:
            raise _HttpError(409, "You already created this model repo", url=url)
        private = bool(body.get("private")) or body.get("visibility") == "private"
        repo = self.hub.repos[repo_id] = Repo(namespace, name, private)
        repo.commit({".gitattributes": GITATTRIBUTES}, "initial commit")
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self):
        meta, error = _front_matter(self._json().get("content", ""))
        if error:
            return self._send(400, {"errors": [{"message": error}], "warnings": []})
        warnings = [] if meta else [{"message": "empty or missing yaml metadata in repo card"}]
        self._send(200, {"errors": [], "warnings": warnings})

    def _preupload(self, owner, name, rev):
        repo, body = self._write_target(owner, name, rev), self._json()
        files = self._rev(repo, rev)[1]
        self._send(200, {"files": [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
             "oid": git_blob_sha1(files[f["path"]]) if f["path"] in files else None}
            for f in body.get("files", [])]})

    def _commit(self, owner, name, rev):
        repo = self._write_target(owner, name, rev)
        head, files = self._rev(repo, rev)
        try:
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        except json.JSONDecodeError as e:
            raise _HttpError(400, f"invalid NDJSON commit payload: {e}") from e
        if not lines or lines[0].get("key") != "header":
            raise _HttpError(400, "the first NDJSON line must be the commit header")
        header, files = lines[0]["value"], dict(files)
        if header.get("parentCommit") and not head.startswith(header["parentCommit"]):
            raise _HttpError(412, "A commit has happened since. Please refresh and try again.")
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "")
            if path.startswith("/") or ".." in path.split("/") or not path.strip("/"):
                raise _HttpError(400, f"invalid path {path!r}")
            if key == "file":
                if value.get("encoding", "base64") != "base64":
                    raise _HttpError(400, "only base64-encoded files are supported")
                files[path] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise _HttpError(404, f"{path} does not exist", "EntryNotFound")
            elif key == "deletedFolder":
                files = {p: b for p, b in files.items() if not p.startswith(path.rstrip("/") + "/")}
            else:
                raise _HttpError(400, f"{key!r} operations (LFS, copies) are not supported by this test Hub")
        sha = repo.commit(files, header.get("summary", ""))
        self._send(200, {"success": True, "commitOid": sha, "commitMessage": header.get("summary", ""),
                         "commitUrl": f"{self.hub.url}/{owner}/{name}/commit/{sha}", "hookOutput": "",
                         "pullRequestUrl": None})

    def _info(self, owner, name, rev):
        repo = self._repo(owner, name)
        sha, files = self._rev(repo, rev or "main")
        blobs = self.query.get("blobs", "").lower() in ("1", "true")
        meta, _ = _front_matter(files.get("README.md", b"").decode("utf-8", "replace"))
        self._send(200, {
            "_id": sha[:24], "id": f"{owner}/{name}", "modelId": f"{owner}/{name}", "author": owner, "sha": sha,
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "createdAt": repo.created, "lastModified": repo.created, "tags": (meta or {}).get("tags", []),
            "library_name": (meta or {}).get("library_name"), "pipeline_tag": (meta or {}).get("pipeline_tag"),
            "cardData": meta or None,
            "siblings": [{"rfilename": p, **({"size": len(b), "blobId": git_blob_sha1(b)} if blobs else {})}
                         for p, b in sorted(files.items())]})

    def _tree(self, owner, name, rev, path):
        repo = self._repo(owner, name)
        _, files = self._rev(repo, rev)
        prefix = (path or "").strip("/")
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        entries: dict[str, dict] = {}
        for p, data in sorted(files.items()):
            if prefix and not p.startswith(prefix + "/"):
                continue
            parts = p[len(prefix) + 1 if prefix else 0:].split("/")
            for i in range(1, len(parts) if recursive else min(len(parts), 2)):  # the directories above p
                d = "/".join(filter(None, [prefix, *parts[:i]]))
                entries.setdefault(d, {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(),
                                       "size": 0, "path": d})
            if recursive or len(parts) == 1:
                entries[p] = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": p}
        if prefix and not entries:
            raise _HttpError(404, f"{prefix} does not exist", "EntryNotFound")
        self._send(200, list(entries.values()))

    def _resolve(self, owner, name, rev, path):
        repo = self._repo(owner, name)
        sha, files = self._rev(repo, rev)
        if path not in files:
            raise _HttpError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": sha})
        data, status = files[path], 200
        headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha1(data)}"', "Accept-Ranges": "bytes",
                   "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"'}
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m and self.command == "GET":
            start, end = int(m[1]), int(m[2]) if m[2] else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{min(end, len(data) - 1)}/{len(data)}"
            data, status = data[start:end + 1], 206
        self._send(status, data, headers, content_type="application/octet-stream")


def _front_matter(text: str) -> tuple[dict | None, str | None]:
    """(metadata, error) of a README's YAML front matter; (None, None) when it has none."""
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        return None, None
    try:
        import yaml
    except ImportError:  # cannot check without PyYAML: accept
        return {}, None
    try:
        meta = yaml.safe_load(m[1])
    except yaml.YAMLError as e:
        return None, f"invalid YAML in README.md metadata: {e}"
    if meta is not None and not isinstance(meta, dict):
        return None, "README.md metadata must be a YAML mapping"
    return meta or {}, None
