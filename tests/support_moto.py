"""moto[server] with every request applied one at a time.

moto's threaded server evaluates a DynamoDB condition and applies the write in separate
steps without a lock, so two concurrent conditional writes can both succeed; DynamoDB
itself applies each conditional write atomically. The HTTP server stays threaded (many
open connections), the backend sees one request at a time.

moto rolls a cancelled TransactWriteItems back from a deep copy of every table it touches,
taken once per action: items, indexes and every stream record ever written, so each
transaction costs time proportional to everything written before it. Here the copy keeps
only what a rollback restores: the items the transaction names (deep-copied) and the
length of the stream.

Usage: python tests/support_moto.py HOST PORT (moto[server]==5.2.5, as pinned in scripts/test.sh)
"""
import copy
import os
import sys
import threading

from werkzeug.serving import run_simple
from moto.dynamodb import models as ddb_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


def _transact(orig):
    def transact_write_items(self, transact_items):
        saved = {}
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            name = op.get("TableName")
            if not name or name not in self.tables:
                continue
            table = self.tables[name]
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k and k in op.get("Item", {})}
            h = ddb_models.DynamoType(key[table.hash_key_attr]) if table.hash_key_attr in key else None
            r = ddb_models.DynamoType(key[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in key else None
            shard = table.stream_shard
            entry_saved = saved.setdefault(name, {"items": {}, "stream": len(shard.items) if shard else 0})
            if h is not None:
                cur = table.items.get(h, {}).get(r) if table.has_range_key else table.items.get(h)
                entry_saved["items"][(h, r)] = copy.deepcopy(cur)
        real = ddb_models.copy
        # Only the table copies are skipped (update_item deep-copies items for the old image).
        deepcopy = lambda x, *a: x if isinstance(x, ddb_models.Table) else real.deepcopy(x, *a)
        ddb_models.copy = type("copy", (), {"deepcopy": staticmethod(deepcopy)})
        try:
            return orig(self, transact_items)
        except Exception:
            for name, s in saved.items():
                table = self.tables[name]
                for (h, r), item in s["items"].items():
                    if table.has_range_key:
                        if item is None:
                            table.items.get(h, {}).pop(r, None)
                        else:
                            table.items[h][r] = item
                    elif item is None:
                        table.items.pop(h, None)
                    else:
                        table.items[h] = item
                if table.stream_shard is not None:
                    del table.stream_shard.items[s["stream"]:]
            raise
        finally:
            ddb_models.copy = real

    return transact_write_items


ddb_models.DynamoDBBackend.transact_write_items = _transact(ddb_models.DynamoDBBackend.transact_write_items)

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialized(environ, start_response):
    with lock:
        return list(app(environ, start_response))


run_simple(host, port, serialized, threaded=True, request_handler=MotoRequestHandler)
