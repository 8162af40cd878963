# The fleet benchmark's single rule in Rego, equivalent to benches/packs/fleet.xpol:
# if any store has full-text indexing, Microsoft Search (MSSEARCH, compared without regard to
# case, as Windows does) must be running. `outcome` is what expolicy reports for the rule:
# not_applicable, pass, fail, or error when the host has no MSSEARCH service.
package fleet

full_text if {
	some store in input.facts.exchange.stores
	store.full_text_indexing == true
}

msearch := [s | some s in input.services; lower(s.name) == "mssearch"]

running if {
	some s in msearch
	s.state == "running"
}

outcome := "not_applicable" if not full_text

outcome := "error" if {
	full_text
	count(msearch) == 0
}

outcome := "pass" if {
	full_text
	running
}

outcome := "fail" if {
	full_text
	count(msearch) > 0
	not running
}
