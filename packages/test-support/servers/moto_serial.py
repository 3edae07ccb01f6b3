# TEST INFRASTRUCTURE: moto's server app (what `moto_server` runs) answering one request at a time.
# `moto_server` serves requests on threads, and moto checks a condition (S3 If-Match /
# If-None-Match, DynamoDB ConditionExpression) and then writes without a lock, so two concurrent
# conditional writes can both pass: the race tests of our suites then fail on moto's threading,
# not on the semantics under test. Served serially, each request is atomic, as one item's writes
# are on S3 and DynamoDB. Usage: python3 moto_serial.py HOST PORT
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

if __name__ == "__main__":
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(sys.argv[1], int(sys.argv[2]), app, threaded=False, request_handler=MotoRequestHandler)
