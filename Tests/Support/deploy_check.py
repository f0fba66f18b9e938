#!/usr/bin/env python3
"""Checks deploy/ (the container build, the Kubernetes CronJob, the Airflow
DAG) as far as can be done without a cluster, a registry or an Airflow
installation; run by Tests/CLITests/DeployTests.swift. Prints one line per
check; exits 1 on the first failure.

- deploy/kubernetes/*.yaml: parsed (PyYAML); the CronJob's retry policy
  checked against moonport's exit codes; validated against the Kubernetes
  schema with kubernetes-validate when it is installed (pip install
  kubernetes-validate), else said to be skipped.
- deploy/Dockerfile: multi-stage, static Swift runtime, slim Debian with the
  three runtime libraries.
- deploy/airflow/moonport_workflows.py: imported with a stand-in for Airflow's
  decorators, and its task body run against a fake moonport that exits with
  each code: only 4/130/143 may be retried. Imported with Airflow itself
  when it is installed.
"""
import ast, importlib.util, os, re, subprocess, sys, tempfile, types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")


def ok(msg):
    print("ok   " + msg)


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def skipped(msg):
    print("skip " + msg)


def check_kubernetes():
    try:
        import yaml
    except ImportError:
        if os.environ.get("CI") == "true":
            fail("PyYAML is not installed (Debian: python3-yaml)")
        skipped("PyYAML is not installed: the YAML is not checked")
        return
    docs = {}
    for name in sorted(os.listdir(os.path.join(DEPLOY, "kubernetes"))):
        path = os.path.join(DEPLOY, "kubernetes", name)
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
        ok("parsed %s" % name)
    cron = next(d for (k, _), d in docs.items() if k == "CronJob")
    spec = cron["spec"]
    if spec.get("concurrencyPolicy") != "Forbid":
        fail("CronJob: concurrencyPolicy must be Forbid")
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    if pod.get("restartPolicy") != "Never":
        fail("CronJob: podFailurePolicy needs restartPolicy: Never")
    container = pod["containers"][0]
    rules = job["podFailurePolicy"]["rules"]
    by_action = {}
    for r in rules:
        codes = r.get("onExitCodes")
        if codes:
            if codes.get("containerName") != container["name"] or codes.get("operator") != "In":
                fail("CronJob: podFailurePolicy rule %r must name the container %r with operator In" % (r, container["name"]))
            by_action[r["action"]] = set(codes["values"])
    if by_action.get("FailJob") != {1, 2, 3}:
        fail("CronJob: exit codes 1, 2, 3 must fail the Job at once, got %r" % by_action.get("FailJob"))
    if by_action.get("Count") != {4, 130, 143}:
        fail("CronJob: exit codes 4, 130, 143 must be retried, got %r" % by_action.get("Count"))
    ok("CronJob: concurrencyPolicy Forbid; exit codes 1/2/3 fail the Job, 4/130/143 are retried (backoffLimit %d)" % job["backoffLimit"])
    env = {e["name"]: e for e in container.get("env", [])}
    if "MOONPORT_STATE" not in env:
        fail("CronJob: MOONPORT_STATE (the shared state store) is not set")
    for name, e in env.items():
        if "value" in e or "secretKeyRef" not in e.get("valueFrom", {}):
            fail("CronJob: %s must come from a Secret (secretKeyRef), not a literal value" % name)
    secret_names = {n for (k, n) in docs if k == "Secret"}
    for name, e in env.items():
        ref = e["valueFrom"]["secretKeyRef"]
        secret = docs.get(("Secret", ref["name"]))
        if secret is None or ref["key"] not in secret.get("stringData", {}):
            fail("CronJob: %s names the key %r of the Secret %r, which the example Secret (%s) lacks" % (name, ref["key"], ref["name"], secret_names))
    ok("CronJob: the state URL and %d vendor/database credentials come from the Secret" % (len(env) - 1))
    args = container["args"]
    if args[0] != "run" or "--lock" not in args:
        fail("CronJob: the container must run `moonport run --lock NAME ...`")
    script = next(a for a in args[1:] if a.endswith(".lua"))
    if not os.path.exists(os.path.join(ROOT, "scripts/examples", os.path.basename(script))):
        fail("CronJob: %s is not one of scripts/examples" % script)
    ok("CronJob: runs %s with --lock" % os.path.basename(script))
    try:
        import kubernetes_validate
    except ImportError:
        skipped("kubernetes-validate is not installed: not validated against the Kubernetes schema (pip install kubernetes-validate)")
        return
    for (kind, name), doc in docs.items():
        for version in ("1.31.0", kubernetes_validate.latest_version() if hasattr(kubernetes_validate, "latest_version") else "1.32.0"):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except Exception as e:  # ValidationError, SchemaNotFoundError, ...
                fail("%s/%s does not validate against Kubernetes %s: %s" % (kind, name, version, e))
        ok("%s/%s validates against the Kubernetes schema (strict)" % (kind, name))


def check_dockerfile():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = f.read()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    if len(stages) < 2:
        fail("Dockerfile: not multi-stage")
    if not re.match(r"debian:\S+-slim$", stages[-1][0]):
        fail("Dockerfile: the final stage must be a slim Debian, got %s" % stages[-1][0])
    final = text[text.rindex("\nFROM "):]
    for lib in ("liblua5.4-0", "libedit2", "libsqlite3-0"):
        if lib not in final:
            fail("Dockerfile: the final stage does not install %s" % lib)
    if "--static-swift-stdlib" not in text or "-c release" not in text:
        fail("Dockerfile: the binary must be a release build with the Swift runtime linked in (--static-swift-stdlib)")
    if "COPY --from=" not in final:
        fail("Dockerfile: the final stage must copy the binary from the build stage")
    ok("Dockerfile: %d stages, release binary with static Swift runtime, final %s with liblua5.4-0 libedit2 libsqlite3-0" % (len(stages), stages[-1][0]))


def check_dag():
    path = os.path.join(DEPLOY, "airflow", "moonport_workflows.py")
    ast.parse(open(path).read())
    # Stand-ins for the part of Airflow the DAG file uses.
    made = []

    class AirflowException(Exception):
        pass

    class AirflowFailException(AirflowException):
        pass

    def dag(**kw):
        def wrap(fn):
            def build():
                made.append(("dag", kw))
                fn()
            return build
        return wrap

    def task(**kw):
        def wrap(fn):
            def call(*a):
                made.append(("task", kw["task_id"], a))
            return call
        return wrap

    airflow = types.ModuleType("airflow")
    sdk = types.ModuleType("airflow.sdk")
    sdk.dag, sdk.task = dag, task
    exceptions = types.ModuleType("airflow.exceptions")
    exceptions.AirflowException, exceptions.AirflowFailException = AirflowException, AirflowFailException
    names = ("airflow", "airflow.sdk", "airflow.exceptions", "airflow.sdk.exceptions")
    saved = {k: sys.modules.get(k) for k in names}
    sys.modules.update({"airflow": airflow, "airflow.sdk": sdk, "airflow.exceptions": exceptions,
                        "airflow.sdk.exceptions": exceptions})
    try:
        spec = importlib.util.spec_from_file_location("moonport_workflows_standin", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    dags = [m for m in made if m[0] == "dag"]
    tasks = [m for m in made if m[0] == "task"]
    if len(dags) != 1 or dags[0][1].get("max_active_runs") != 1:
        fail("DAG: one DAG with max_active_runs=1 expected")
    if [t[1] for t in tasks] != [w[0] for w in module.WORKFLOWS] or len(tasks) != len(module.WORKFLOWS):
        fail("DAG: one task per workflow expected, got %r" % tasks)
    for task_id, script, _ in module.WORKFLOWS:
        if not os.path.exists(os.path.join(ROOT, "scripts/examples", script)):
            fail("DAG: %s runs %s, which is not one of scripts/examples" % (task_id, script))
    ok("DAG: %d tasks, one per workflow, each a script of scripts/examples" % len(tasks))
    # The task body against a fake moonport exiting with each code.
    with tempfile.TemporaryDirectory() as d:
        fake = os.path.join(d, "moonport")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\nexit $FAKE_EXIT\n")
        os.chmod(fake, 0o755)
        module.MOONPORT = fake
        outcome = {}
        for code in (0, 1, 2, 3, 4, 130, 143):
            os.environ["FAKE_EXIT"] = str(code)
            try:
                module.run_moonport("t", "forecast-to-claravine.lua", [])
                outcome[code] = "success"
            except AirflowFailException:
                outcome[code] = "fail, no retry"
            except AirflowException:
                outcome[code] = "retry"
        expected = {0: "success", 1: "fail, no retry", 2: "fail, no retry", 3: "fail, no retry", 4: "retry",
                    130: "retry", 143: "retry"}
        if outcome != expected:
            fail("DAG: exit codes map to %r, expected %r" % (outcome, expected))
    ok("DAG: exit code 0 succeeds, 4/130/143 are retried, 1/2/3 fail without a retry")
    try:
        import airflow  # noqa: F401
    except ImportError:
        skipped("Airflow is not installed: the DAG was not imported by Airflow itself (pip install apache-airflow)")
        return
    from airflow.models import DagBag
    try:
        bag = DagBag(dag_folder=os.path.dirname(path), include_examples=False)
    except TypeError:  # Airflow 3: no include_examples
        bag = DagBag(dag_folder=os.path.dirname(path))
    if bag.import_errors:
        fail("DAG: Airflow could not import it: %r" % bag.import_errors)
    d = bag.dags.get("moonport_workflows")
    if d is None or sorted(t.task_id for t in d.tasks) != sorted(w[0] for w in module.WORKFLOWS):
        fail("DAG: Airflow sees %r" % (d and [t.task_id for t in d.tasks]))
    ok("DAG: imported by Airflow %s: %d tasks" % (airflow.__version__, len(d.tasks)))


if __name__ == "__main__":
    check_kubernetes()
    check_dockerfile()
    check_dag()
