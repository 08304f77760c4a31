"""python -m bench.profile books each py-spy sample to the innermost stage of a request it is in."""
from __future__ import annotations

from bench.profile import OTHER, booked, stage
from bench.report import profile_table

WORKER = ("Thread._bootstrap (threading.py:1002);_WorkItem.run (concurrent/futures/thread.py:58);"
          "ThreadWorker.handle_request (gunicorn/workers/gthread.py:777);Response.write (gunicorn/http/wsgi.py:475);"
          "RootPath.__call__ (webapp/proxy.py:33);Flask.wsgi_app (flask/app.py:1527)")
VIEW = f"{WORKER};Flask.dispatch_request (flask/app.py:879);generate_json (webapp/api.py:22)"


def test_a_sample_goes_to_the_innermost_stage_it_is_in():
    model = (f"{VIEW};OnnxGenerator.render (digits/generators.py:125);TimedSession.run (webapp/monitoring.py:63);"
             "InferenceSession.run (onnxruntime/capi/onnxruntime_inference_collection.py:372)")
    assert stage(model) == "onnxruntime session.run"  # not the metrics wrapper around it
    assert stage(f"{VIEW};pngs_base64 (webapp/imaging.py:19);png_bytes (digits/images.py:45)") == "PNG encoding"
    assert stage(f"{VIEW};mnist_centred (digits/images.py:24);clip (numpy/_core/fromnumeric.py:2296)") \
        == "centring (mnist_centred)"
    assert stage(f"{VIEW};jsonify (flask/json/__init__.py:138);dumps (json/__init__.py:238)") == "JSON"
    assert stage(WORKER) == "Flask + Werkzeug (context, routing, request, response)"
    send = ("ThreadWorker.handle_request (gunicorn/workers/gthread.py:777);Response.send_headers "
            "(gunicorn/http/wsgi.py:471);write (gunicorn/util.py:348)")
    assert stage(send).startswith("system calls")
    assert stage("ThreadWorker.handle_request (gunicorn/workers/gthread.py:777)").startswith("gunicorn")
    assert stage("Thread.run (threading.py:982);Semaphore.release (threading.py:498)").startswith("thread pool")
    assert stage("<module> (app.py:3)") == OTHER


def test_samples_add_up_per_stage_and_the_table_shows_both_checkouts():
    stacks = f"{VIEW};png_bytes (digits/images.py:45) 3\n{VIEW};png_bytes (digits/images.py:46) 2\n{WORKER} 5\n"
    counts = booked(stacks)
    assert counts["PNG encoding"] == 5 and sum(counts.values()) == 10
    table = profile_table({"now": {"PNG encoding": 0.1, "JSON": 0.02}, "abc1234": {"PNG encoding": 0.4}})
    lines = table.splitlines()
    assert lines[0] == "| stage | now (ms per request) | abc1234 (ms per request) |"
    assert lines[2] == "| PNG encoding | 0.100 | 0.400 |" and lines[3] == "| JSON | 0.020 | 0.000 |"
    assert lines[-1] == "| **sampled in the worker** | **0.120** | **0.400** |"
