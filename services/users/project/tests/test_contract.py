"""The OpenAPI description matches the real routes and what they really answer."""

import json
import re
import unittest

from project import create_app
from project.api import store
from project.api.health import SPEC_PATH
from project.tests.base import BaseTestCase
from project.tests.utils import add_user

# Methods Flask answers by itself on every route; the description leaves them out.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
# Operations that read or write users, and so may meet an unreachable database.
DATABASE_OPERATIONS = {"ready", "listUsers", "addUser", "getUser", "indexPage", "indexForm"}


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as spec:
        return json.load(spec)


def openapi_path(rule):
    """Write a Werkzeug rule (`/users/<user_id>`) as an OpenAPI path (`/users/{user_id}`)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def node_path(ref):
    if not ref.startswith("#/"):
        raise AssertionError(f"Only local references are used: {ref}")
    return ref[2:].split("/")


def schema_errors(spec, schema, value, where="body"):
    """List how `value` breaks `schema` (the JSON Schema keywords the description uses)."""
    schema = follow(spec, schema)
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool}
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: {value!r} is not an integer"]
    elif kind and not isinstance(value, kinds[kind]):
        return [f"{where}: {value!r} is not {kind}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: {value!r} below {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where}: {value!r} above {schema['maximum']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{where}: {value!r} shorter than {schema['minLength']}")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{where}: {value!r} longer than {schema['maxLength']}")
    if kind == "object":
        properties = schema.get("properties", {})
        errors += [f"{where}: {name} is missing" for name in schema.get("required", [])
                   if name not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: {name} is not documented" for name in value
                       if name not in properties]
        for name, member in value.items():
            if name in properties:
                errors += schema_errors(spec, properties[name], member, f"{where}.{name}")
    if kind == "array":
        for index, item in enumerate(value):
            errors += schema_errors(spec, schema["items"], item, f"{where}[{index}]")
    return errors


def follow(spec, node):
    """Return the node a `$ref` names (or `node` itself)."""
    while "$ref" in node:
        target = spec
        for part in node_path(node["$ref"]):
            target = target[part]
        node = target
    return node


def operations(spec):
    """Yield (path, method, operation) for every operation described."""
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


class TestDescriptionMatchesRoutes(unittest.TestCase):

    def setUp(self):
        self.spec = load_spec()
        self.app = create_app("project.config.TestingConfig")

    def test_every_route_is_described(self):
        """Ensure the description lists exactly the app's routes and methods."""
        routes = {
            (openapi_path(rule.rule), method)
            for rule in self.app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - IMPLICIT_METHODS
        }
        described = {(path, method) for path, method, _ in operations(self.spec)}
        self.assertEqual(described, routes)

    def test_path_parameters_are_described(self):
        """Ensure every parameter in a path is described as a required path parameter."""
        for path, method, operation in operations(self.spec):
            with self.subTest(path=path, method=method):
                in_path = set(re.findall(r"{([^}]+)}", path))
                described = {parameter["name"] for parameter in operation.get("parameters", [])
                             if parameter["in"] == "path" and parameter["required"]}
                self.assertEqual(described, in_path)

    def test_failures_are_described(self):
        """Ensure every operation describes its 500, and those using the database a 503."""
        for path, method, operation in operations(self.spec):
            with self.subTest(path=path, method=method):
                responses = operation["responses"]
                self.assertIn("500", responses)
                uses_database = operation["operationId"] in DATABASE_OPERATIONS
                self.assertEqual("503" in responses, uses_database)

    def test_references_resolve(self):
        """Ensure every $ref in the description names something in it."""
        refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(self.spec))
        self.assertTrue(refs)
        for ref in refs:
            with self.subTest(ref=ref):
                self.assertIsInstance(follow(self.spec, {"$ref": ref}), dict)

    def test_description_is_served(self):
        """Ensure GET /users/openapi.json serves the packaged description."""
        response = self.app.test_client().get("/users/openapi.json")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.mimetype, "application/json")
        self.assertEqual(response.get_json(), self.spec)
        self.assertTrue(self.spec["openapi"].startswith("3."))


class TestResponsesMatchDescription(BaseTestCase):
    """Real answers, one per documented outcome, checked against the description."""

    def setUp(self):
        super().setUp()
        self.spec = load_spec()

    def check(self, path, method, response):
        """Assert `response` is a documented status, content type and body for the operation."""
        operation = self.spec["paths"][path][method.lower()]
        status = str(response.status_code)
        self.assertIn(status, operation["responses"], f"{method} {path} answered {status}")
        documented = follow(self.spec, operation["responses"][status])
        self.assertIn(response.mimetype, documented["content"])
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                self.assertIn(name, response.headers)
        if response.mimetype == "application/json":
            schema = documented["content"]["application/json"]["schema"]
            self.assertEqual(schema_errors(self.spec, schema, response.get_json()), [])

    def test_service_routes(self):
        """Ensure ping, readiness and the description answer as described."""
        for path in ("/users/ping", "/users/ready", "/users/openapi.json"):
            with self.subTest(path=path):
                self.check(path, "GET", self.client.get(path))

    def test_add_user_outcomes(self):
        """Ensure added, invalid, duplicate, oversized and wrongly typed posts are described."""
        user = {"username": "michael", "email": "michael@mherman.org"}
        cases = [
            (json.dumps(user), "application/json", 201),
            (json.dumps(user), "application/json", 400),
            ('{"username": 1}', "application/json", 400),
            ("{oops", "application/json", 400),
            (json.dumps(user), "text/plain", 415),
            ("x" * (65 * 1024), "application/json", 413),
        ]
        for body, content_type, expected in cases:
            with self.subTest(body=body[:30], content_type=content_type):
                response = self.client.post("/users", data=body, content_type=content_type)
                self.assertEqual(response.status_code, expected)
                self.check("/users", "POST", response)

    def test_read_outcomes(self):
        """Ensure the list, a found user and a missing one are described."""
        add_user("michael", "michael@mherman.org")
        self.check("/users", "GET", self.client.get("/users"))
        for user_id, expected in (("1", 200), ("2", 404), ("nope", 404)):
            with self.subTest(user_id=user_id):
                response = self.client.get(f"/users/{user_id}")
                self.assertEqual(response.status_code, expected)
                self.check("/users/{user_id}", "GET", response)

    def test_list_page_outcomes(self):
        """Ensure a page with its Link, the last page and a bad limit or after are described."""
        add_user("michael", "michael@mherman.org")
        add_user("fletcher", "fletcher@notreal.com")
        first = self.client.get("/users?limit=1")
        self.assertIn("Link", first.headers)
        self.assertIn("Link", self.spec["paths"]["/users"]["get"]["responses"]["200"]["headers"])
        self.check("/users", "GET", first)
        for query, expected in (("limit=1&after=1", 200), ("limit=0", 400), ("after=x", 400)):
            with self.subTest(query=query):
                response = self.client.get(f"/users?{query}")
                self.assertEqual(response.status_code, expected)
                self.check("/users", "GET", response)

    def test_list_parameters_are_described(self):
        """Ensure limit and after are described with the bounds the service enforces."""
        parameters = {parameter["name"]: parameter["schema"]
                      for parameter in self.spec["paths"]["/users"]["get"]["parameters"]}
        self.assertEqual(parameters, {
            "limit": {"type": "integer", "minimum": 1, "maximum": store.MAX_API_PAGE},
            "after": {"type": "integer", "minimum": 0, "maximum": store.MAX_USER_ID}})

    def test_page_outcomes(self):
        """Ensure the page, a bad start, and its form's redirect and refusal are described."""
        self.check("/", "GET", self.client.get("/"))
        bad_start = self.client.get("/?after=x")
        self.assertEqual(bad_start.status_code, 400)
        self.check("/", "GET", bad_start)
        added = self.client.post("/", data={"username": "michael",
                                            "email": "michael@mherman.org"})
        self.assertEqual(added.status_code, 302)
        self.check("/", "POST", added)
        refused = self.client.post("/", data={"username": "michael"})
        self.assertEqual(refused.status_code, 400)
        self.check("/", "POST", refused)

    def test_schema_check_catches_drift(self):
        """Ensure the checker itself refuses a body the description does not allow."""
        schema = {"$ref": "#/components/schemas/UserData"}
        drifted = {"status": "success", "data": {"id": 1, "username": "m", "email": "m@x.org"}}
        self.assertEqual(schema_errors(self.spec, schema, drifted),
                         ["body.data: active is missing"])


if __name__ == "__main__":
    unittest.main()
