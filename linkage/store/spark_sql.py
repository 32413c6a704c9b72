"""linkage's SQL, written once in DuckDB's dialect, as Spark SQL that means the same.

sqlglot translates most of it. `Rewriter` handles what sqlglot gets wrong or lacks, each case
found by running linkage's own steps on both engines and comparing the tables:

- macros (Spark has none): inlined where they are called;
- list indexes and slices, 1-based and negative from the end, NULL when out of range
  (sqlglot turns x[-1] into x[-2] and leaves x[col] unshifted);
- `list(v ORDER BY k)` (Spark's collect_list drops the order and the NULLs);
- the 1-based index of `list_transform(l, lambda x, i: ...)` (Spark's is 0-based);
- `regexp_full_match`, `strip_accents`, `try_strptime`, `list_position`, `list_intersect`,
  `row_number() OVER ()`, `unnest` beside `generate_subscripts`;
- several `unnest`s in one SELECT: DuckDB walks the lists side by side, Spark crosses them;
- `jaro_winkler_similarity`: Spark's built-in and Splink's JAR both disagree with DuckDB on
  about a third of name pairs, so Spark calls `linkage_jaro_winkler`, a UDF over jellyfish
  that equals DuckDB's (registered by `linkage.store.spark.register_functions`).

Bound parameters become literals built by sqlglot from the values, never pasted text.
This module needs sqlglot only, so it is tested without Spark.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

JARO_WINKLER = "linkage_jaro_winkler"
WRITE = "spark"


class DuckDBAsWritten(DuckDB):
    """DuckDB, with list indexes kept as written (1-based), so `Rewriter` shifts them all."""

    INDEX_OFFSET = 0


READ = DuckDBAsWritten

Macros = dict[str, tuple[list[str], exp.Expression]]


@functools.cache
def accent_table() -> tuple[str, str]:
    """`strip_accents` as a translate() table, taken from DuckDB's own strip_accents over the
    Basic Multilingual Plane: letters mapped to their base letter, combining marks dropped
    (translate() deletes a character with no counterpart in the second string)."""
    import duckdb

    chars = [chr(c) for c in range(0x80, 0x10000) if not 0xD800 <= c < 0xE000]
    with duckdb.connect() as con:
        rows = con.execute("SELECT c, strip_accents(c) FROM unnest(?) AS t(c)", [chars]).fetchall()
    mapped = [(a, b) for a, b in rows if a != b and len(b) == 1]
    dropped = [a for a, b in rows if a != b and b == ""]
    return "".join(a for a, _ in mapped) + "".join(dropped), "".join(b for _, b in mapped)


# DuckDB strptime codes -> Java DateTimeFormatter letters (parsing).
_STRPTIME = {"%Y": "yyyy", "%m": "M", "%d": "d", "%y": "yy", "%b": "MMM", "%B": "MMMM",
             "%H": "H", "%M": "m", "%S": "s"}


def java_date_format(fmt: str) -> str:
    """DuckDB's %m and %d read one or two digits, and so do Java's M and d, except between
    two adjacent numeric fields (%Y%m%d), where Java parses only fixed widths (MM, dd).

    >>> java_date_format("%m/%d/%Y"), java_date_format("%Y%m%d")
    ('M/d/yyyy', 'yyyyMMdd')
    """
    tokens = re.findall(r"%.|.", fmt, flags=re.S)
    out = []
    for i, token in enumerate(tokens):
        if token.startswith("%"):
            adjacent = (i > 0 and tokens[i - 1].startswith("%")) or (
                i + 1 < len(tokens) and tokens[i + 1].startswith("%"))
            java = _STRPTIME[token]
            out.append(java * 2 if adjacent and java in ("M", "d") else java)
        else:
            out.append(f"'{token}'" if token.isalnum() else token)
    return "".join(out)


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _num(value: int) -> exp.Expression:
    return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))


def _int_literal(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        return int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return -int(node.this.this)
    return None


def _position(array: exp.Expression, index: exp.Expression) -> exp.Expression:
    """A DuckDB slice bound (1-based, negative from the end) as a Spark 1-based position."""
    value = _int_literal(index)
    size = exp.ArraySize(this=array.copy())
    if value is not None:
        return exp.Add(this=size, expression=_num(value + 1)) if value < 0 else _num(value)
    return exp.If(this=exp.LT(this=index.copy(), expression=_num(0)),
                  true=exp.Add(this=size, expression=exp.Add(this=index.copy(), expression=_num(1))),
                  false=index.copy())


class Rewriter:
    """A DuckDB-dialect AST -> an AST whose Spark SQL means the same."""

    def __init__(self, macros: Macros | None = None, params: Any = None) -> None:
        self.macros = macros or {}
        self.params = params if params is not None else {}
        self.positional = iter(params) if isinstance(params, (list, tuple)) else None

    def rewrite(self, node: exp.Expression) -> exp.Expression:
        """Post-order: children first, so a replaced node never hides an unrewritten child."""
        for key, value in list(node.args.items()):
            if isinstance(value, exp.Expression):
                node.set(key, self.rewrite(value))
            elif isinstance(value, list):
                node.set(key, [self.rewrite(v) if isinstance(v, exp.Expression) else v
                               for v in value])
        return self._node(node)

    def _node(self, node: exp.Expression) -> exp.Expression:
        for kind in type(node).__mro__:
            rule = RULES.get(kind)
            if rule is not None:
                return rule(self, node)
        return node

    def _anonymous(self, node: exp.Anonymous) -> exp.Expression:
        if node.name.lower() in self.macros:
            return self._inline(node)
        return self._function(node)

    def _placeholder(self, node: exp.Placeholder) -> exp.Expression:
        value = next(self.positional) if self.positional else self.params[node.name]
        return exp.convert(value)

    @staticmethod
    def _row_number(node: exp.Window) -> exp.Expression:
        if isinstance(node.this, exp.RowNumber) and not node.args.get("partition_by") \
                and not node.args.get("order"):
            # Spark needs an order; any numbering of the rows as they are read will do.
            node.set("order", exp.Order(expressions=[
                exp.Ordered(this=_fn("monotonically_increasing_id"))]))
        return node

    def _inline(self, node: exp.Anonymous) -> exp.Expression:
        """A macro call -> its body (rewritten), with the (rewritten) arguments put in."""
        names, body = self.macros[node.name.lower()]
        args = dict(zip(names, node.expressions, strict=True))
        body = self.rewrite(body.copy())
        return body.transform(
            lambda n: exp.Paren(this=args[n.name].copy())
            if isinstance(n, exp.Column) and not n.table and n.name in args else n)

    def _bracket(self, node: exp.Bracket) -> exp.Expression:
        if len(node.expressions) != 1:
            return node
        index = node.expressions[0]
        if isinstance(index, exp.Slice):
            start = index.this or _num(1)
            end = index.expression or _num(-1)
            first, last = _position(node.this, start), _position(node.this, end)
            length = exp.func("greatest", _num(0), exp.Add(
                this=exp.Sub(this=last, expression=first), expression=_num(1)))
            return _fn("slice", node.this, exp.cast(first, "INT"), exp.cast(length, "INT"))
        if isinstance(index, exp.Literal) and index.is_string:
            return node  # a struct field or map key
        # DuckDB gives NULL out of range and for 0; Spark's try_element_at raises on 0 and
        # wants an INT index.
        return _fn("try_element_at", node.this, exp.cast(exp.func("nullif", index, _num(0)), "INT"))

    def _function(self, node: exp.Anonymous) -> exp.Expression:
        name = node.name.lower()
        if name in ("list_extract", "list_element", "array_extract"):
            return _fn("try_element_at", *node.expressions)
        if name in ("list_intersect", "array_intersect"):
            return _fn("array_intersect", *node.expressions)
        if name == "list_position":
            # Spark gives 0 when absent, DuckDB NULL.
            return exp.func("nullif", _fn("array_position", *node.expressions), _num(0))
        if name == "strip_accents":
            accented, plain = accent_table()
            return exp.func("translate", node.expressions[0], exp.Literal.string(accented),
                            exp.Literal.string(plain))
        if name == "try_strptime":
            text, formats = node.expressions
            fmts = formats.expressions if isinstance(formats, exp.Array) else [formats]
            tries = [_fn("try_to_timestamp", text.copy(),
                         exp.Literal.string(java_date_format(f.name))) for f in fmts]
            return tries[0] if len(tries) == 1 else exp.Coalesce(this=tries[0], expressions=tries[1:])
        return node

    @staticmethod
    def _full_match(node: exp.RegexpFullMatch) -> exp.Expression:
        pattern = node.expression
        if isinstance(pattern, exp.Literal):
            return exp.RegexpLike(this=node.this,
                                  expression=exp.Literal.string(f"^(?:{pattern.name})$"))
        return exp.RegexpLike(this=node.this, expression=exp.func(
            "concat", exp.Literal.string("^(?:"), pattern, exp.Literal.string(")$")))

    @staticmethod
    def _ordered_list(node: exp.ArrayAgg) -> exp.Expression:
        """list(v ORDER BY k) -> the values of sort(collect_list(struct(k, v))), NULLs kept."""
        value, order = node.this, None
        if isinstance(value, exp.Order):
            order, value = value.expressions, value.this
        keys = [o.this for o in order] if order else []
        fields = [exp.PropertyEQ(this=exp.to_identifier(f"k{i}"), expression=k)
                  for i, k in enumerate(keys)]
        fields.append(exp.PropertyEQ(this=exp.to_identifier("v"), expression=value))
        collected = _fn("collect_list", exp.Struct(expressions=fields))
        if keys:
            collected = exp.ArraySort(this=collected)
        return exp.Transform(this=collected, expression=exp.Lambda(
            this=exp.Dot(this=exp.column("s"), expression=exp.to_identifier("v")),
            expressions=[exp.to_identifier("s")]))

    @staticmethod
    def _one_based_index(node: exp.Transform) -> exp.Expression:
        if not isinstance(node.expression, exp.Lambda) or len(node.expression.expressions) != 2 \
                or node.meta.get("indexed"):
            return node
        index_name = node.expression.expressions[1].name
        # (sqlglot parses a lambda's variables in its body as bare Identifiers.)
        body = node.expression.this.transform(
            lambda n: exp.Paren(this=exp.Add(this=exp.to_identifier(index_name), expression=_num(1)))
            if isinstance(n, exp.Identifier) and n.name == index_name
            and not isinstance(n.parent, (exp.Column, exp.Dot, exp.Table, exp.Alias)) else n)
        new = exp.Transform(this=node.this, expression=exp.Lambda(
            this=body, expressions=node.expression.expressions))
        new.meta["indexed"] = True
        return new

    @staticmethod
    def _subscripts(select: exp.Select) -> exp.Select:
        """unnest(l) AS a, generate_subscripts(l, 1) AS b -> one inline() generator."""
        subs = [e for e in select.expressions if isinstance(e, exp.Alias)
                and isinstance(e.this, exp.Anonymous)
                and e.this.name.lower() == "generate_subscripts"]
        if not subs:
            return select
        sub = subs[0]
        array = sub.this.expressions[0]
        unnest = next(e for e in select.expressions if isinstance(e, exp.Alias)
                      and isinstance(e.this, (exp.Explode, exp.Unnest)) and e.this.this == array)
        struct = exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier(unnest.alias), expression=exp.column("e")),
            exp.PropertyEQ(this=exp.to_identifier(sub.alias),
                           expression=exp.Add(this=exp.column("i"), expression=_num(1)))])
        transform = exp.Transform(this=array.copy(), expression=exp.Lambda(
            this=struct, expressions=[exp.to_identifier("e"), exp.to_identifier("i")]))
        transform.meta["indexed"] = True
        keep = [e for e in select.expressions if e is not sub and e is not unnest]
        select.set("expressions", [*keep, _fn("inline", transform)])
        return select

    @staticmethod
    def _side_by_side(select: exp.Select) -> exp.Select:
        """unnest(a) AS x, unnest(b) AS y -> inline(arrays_zip(a, b)) AS (x, y).

        DuckDB unnests the lists of one SELECT side by side, padding the shorter with NULLs
        (a NULL list counts as empty). Spark 4 accepts several generators in one SELECT and
        returns their cross product: n lists of n values gave n * n rows, most of them
        wrong, and no error.

        >>> to_spark("SELECT id, unnest(a) AS x, unnest(b) AS y FROM t")
        'SELECT id, INLINE(ARRAYS_ZIP(COALESCE(a, ARRAY()), COALESCE(b, ARRAY()))) AS (x, y) FROM t'
        """
        found = [i for i, e in enumerate(select.expressions)
                 if isinstance(e.unalias(), (exp.Explode, exp.Unnest))]
        if len(found) < 2:
            return select
        unnests = [select.expressions[i] for i in found]
        if not all(isinstance(e, exp.Alias) for e in unnests) \
                or found != list(range(found[0], found[0] + len(found))):
            raise ValueError("several unnests in one SELECT run on Spark only when each is "
                             f"named (AS name) and they stand together: {select.sql()}")
        lists = [exp.Coalesce(this=e.this.this, expressions=[exp.Array(expressions=[])])
                 for e in unnests]
        zipped = exp.Aliases(this=_fn("inline", _fn("arrays_zip", *lists)),
                             expressions=[e.args["alias"] for e in unnests])
        expressions = list(select.expressions)
        expressions[found[0]:found[-1] + 1] = [zipped]
        select.set("expressions", expressions)
        return select


# What differs between the engines, by the kind of node it is found in; `Rewriter` applies
# the rule of a node's most specific kind, after its children's.
RULES: dict[type[exp.Expression], Callable[[Rewriter, Any], exp.Expression]] = {
    exp.Anonymous: Rewriter._anonymous,  # macros; DuckDB list and text functions
    exp.Placeholder: Rewriter._placeholder,  # bound values, as literals
    exp.Bracket: Rewriter._bracket,  # 1-based and negative list indexes and slices
    exp.Window: lambda _, node: Rewriter._row_number(node),  # row_number() OVER ()
    exp.JarowinklerSimilarity: lambda _, node: _fn(JARO_WINKLER, node.this, node.expression),
    exp.RegexpFullMatch: lambda _, node: Rewriter._full_match(node),
    exp.Length: lambda _, node: exp.ArraySize(this=node.this)  # len(string_split(...))
    if isinstance(node.this, exp.Split) else node,
    exp.ArrayAgg: lambda _, node: Rewriter._ordered_list(node),  # list(v ORDER BY k)
    exp.Transform: lambda _, node: Rewriter._one_based_index(node),  # list_transform index
    exp.Select: lambda _, node: Rewriter._side_by_side(Rewriter._subscripts(node)),  # unnests
}


def parse(sql: str) -> list[exp.Expression]:
    """The statements of a DuckDB-dialect SQL text."""
    return [statement for statement in sqlglot.parse(sql, read=READ) if statement is not None]


def to_spark(sql: str | exp.Expression, params: Any = None, macros: Macros | None = None) -> str:
    """One DuckDB-dialect statement as Spark SQL.

    >>> to_spark("SELECT w[-1], list_extract(w, 2), jaro_winkler_similarity(a, b) FROM t")
    'SELECT TRY_ELEMENT_AT(w, CAST(NULLIF(-1, 0) AS INT)), TRY_ELEMENT_AT(w, 2), LINKAGE_JARO_WINKLER(a, b) FROM t'
    >>> to_spark('SELECT * FROM person WHERE "sex_l" = $sex', {"sex": "F"})
    "SELECT * FROM person WHERE `sex_l` = 'F'"
    """
    tree = sqlglot.parse_one(sql, read=READ) if isinstance(sql, str) else sql.copy()
    return Rewriter(macros, params).rewrite(tree).sql(dialect=WRITE)


def model_for_spark(model: Mapping[str, Any]) -> dict[str, Any]:
    """A Splink model file written for DuckDB, with its SQL as Spark SQL (weights unchanged).

    Splink does not translate a model's comparison levels or blocking rules: on Spark a
    DuckDB double-quoted column would silently become a string literal."""
    out = copy.deepcopy(dict(model))
    out["sql_dialect"] = "spark"
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level["sql_condition"].strip().upper() != "ELSE":
                level["sql_condition"] = to_spark(level["sql_condition"])
    out["blocking_rules_to_generate_predictions"] = [
        {**rule, "blocking_rule": to_spark(rule["blocking_rule"]), "sql_dialect": "spark"}
        if isinstance(rule, dict) else to_spark(rule)
        for rule in out["blocking_rules_to_generate_predictions"]]
    return out
