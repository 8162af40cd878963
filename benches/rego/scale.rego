# What the Rego twins of the generated scale packs (benches/scale.rs) share. The bench writes one
# Rego rule per generated expolicy rule, `rNNNN := outcome(WHEN, [REQUIRE, ...])`, built from the
# helpers below, and `outcomes`, an object of every rule's outcome, which it evaluates.
#
# The helpers reproduce what expolicy does with missing data (docs/language.md, "Outcomes and
# missing data"): a value that is not in the snapshot makes a condition undecided, written here
# as the string "undecided" next to true and false, and logic is decided when it can be (`false
# and X` is false, `true or X` is true whatever X is). A rule is `error` when its `when` is
# undecided, `not_applicable` when it is false, `fail` when any requirement is false, `error`
# when none is false but one is undecided, and `pass` otherwise.
package scale

# Services by lower-case name: `service("X")` ignores case, as the service control manager does.
# (expolicy folds ASCII case only; the bench's names are ASCII.)
svc := {lower(s.name): s | some s in input.services}

# A service's field, undefined when the service or the field is missing (JSON null is missing).
field(name, f) := v if {
	v := svc[lower(name)][f]
	v != null
}

has_service(name) := true if {
	svc[lower(name)]
} else := false

# ----------------------------------------------------------------- three-valued logic

not3(a) := "undecided" if {
	a == "undecided"
} else := false if {
	a == true
} else := true

and3(a, b) := false if {
	a == false
} else := false if {
	b == false
} else := "undecided" if {
	a == "undecided"
} else := "undecided" if {
	b == "undecided"
} else := true

or3(a, b) := true if {
	a == true
} else := true if {
	b == true
} else := "undecided" if {
	a == "undecided"
} else := "undecided" if {
	b == "undecided"
} else := false

outcome(when, requires) := "error" if {
	when == "undecided"
} else := "not_applicable" if {
	when == false
} else := "fail" if {
	false in requires
} else := "error" if {
	"undecided" in requires
} else := "pass"

# ----------------------------------------------------------------- shape 0: a `when` over the stores

# `fact exchange.stores: [{ name: str, kind: str, full_text_indexing: bool }]`: a store of the
# wrong shape makes the whole fact undecided, as expolicy's typed facts do.
stores_ok if {
	stores := input.facts.exchange.stores
	is_array(stores)
	every st in stores {
		is_string(st.name)
		is_string(st.kind)
		is_boolean(st.full_text_indexing)
	}
}

# `any st in exchange.stores: st.full_text_indexing`
full_text := "undecided" if {
	not stores_ok
} else := true if {
	some st in input.facts.exchange.stores
	st.full_text_indexing == true
} else := false

# `service(name) is STATE`
is_state(name, state) := true if {
	field(name, "state") == state
} else := false if {
	is_string(field(name, "state"))
} else := "undecided"

# ----------------------------------------------------------------- shape 1: start types

# `service(name) is START_TYPE`
is_start(name, start) := true if {
	field(name, "start_type") == start
} else := false if {
	is_string(field(name, "start_type"))
} else := "undecided"

# `service(name).start_type in allowed`
start_type_in(name, allowed) := true if {
	field(name, "start_type") in allowed
} else := false if {
	is_string(field(name, "start_type"))
} else := "undecided"

# ----------------------------------------------------------------- shape 2: a count over all services

# Names of the services without a state, once per evaluation: Rego cannot notice them in the
# same pass as the count below, and a second pass per rule would charge regorus for that.
stateless := {s.name | some s in input.services; not is_string(object.get(s, "state", null))}

# `count x in services: x is running and x.name != name`. `and` is false as soon as the name is
# equal (compared with case, as expolicy's `!=` compares strings), so a service without a state
# makes the count undecided only when its name differs.
running_except(name) := "undecided" if {
	some other in stateless
	other != name
} else := count([s | some s in input.services; s.state == "running"; s.name != name])

greater3(n, k) := "undecided" if {
	n == "undecided"
} else := true if {
	n > k
} else := false

# ----------------------------------------------------------------- shape 3: accounts

# The well-known accounts under their aliases (`LocalSystem`, `.\LocalSystem`,
# `NT AUTHORITY\SYSTEM`, ...), as `expolicy::snapshot::WellKnownAccount::parse`.
bare_account(a) := trim_prefix(l, ".\\") if {
	l := lower(trim_space(a))
	startswith(l, ".\\")
} else := trim_prefix(lower(trim_space(a)), "nt authority\\")

account_aliases := {
	"localsystem": "LocalSystem",
	"system": "LocalSystem",
	"local system": "LocalSystem",
	"localservice": "LocalService",
	"local service": "LocalService",
	"networkservice": "NetworkService",
	"network service": "NetworkService",
}

# Undefined for an account that is not well known.
well_known(a) := account_aliases[bare_account(a)]

same_account(a, b) if {
	well_known(a) == well_known(b)
}

same_account(a, b) if {
	not well_known(a)
	not well_known(b)
	lower(trim_space(a)) == lower(trim_space(b))
}

# `service(name) runs as account`
runs_as(name, account) := true if {
	same_account(field(name, "account"), account)
} else := false if {
	is_string(field(name, "account"))
} else := "undecided"

# `service(name).account != text`
account_differs(name, text) := true if {
	field(name, "account") != text
} else := false if {
	is_string(field(name, "account"))
} else := "undecided"

# ----------------------------------------------------------------- shape 4: transitive dependencies

# Each service's direct dependencies, by lower-case name (a dangling one is a name that is not a
# key, which graph.reachable does not follow, as expolicy does not).
dependencies := {lower(s.name): [lower(d) | some d in s.depends_on] | some s in input.services}

# Services whose `depends_on` the snapshot does not give.
unknown_dependencies := {lower(s.name) | some s in input.services; not is_array(object.get(s, "depends_on", null))}

# `service(a) depends on service(b)`: through any chain of dependencies. A chain through a service
# whose dependencies are unknown leaves the answer undecided, unless `b` is found anyway.
depends_on(a, b) := verdict if {
	has_service(a) == true
	has_service(b) == true
	reached := graph.reachable(dependencies, dependencies[lower(a)])
	verdict := dependency_verdict(lower(a), lower(b), reached)
} else := "undecided"

dependency_verdict(a, b, reached) := true if {
	b in reached
} else := "undecided" if {
	a in unknown_dependencies
} else := "undecided" if {
	some s in reached
	s in unknown_dependencies
} else := false

# Evaluating this alone prepares the engine (parses nothing more, analyses every module).
ready := true
