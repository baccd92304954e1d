"""Action verbs and input ids, shared by the card builders, the handlers and the tests."""

# Action.Execute verbs. The Action.Submit fallback of each button sends the same verb
# in its data under VERB_KEY, since Action.Submit has no verb of its own.
APPROVE_VERB = "approve"
REJECT_VERB = "reject"
REJECT_CONFIRM_VERB = "reject_confirm"
REJECT_CANCEL_VERB = "reject_cancel"
SUBMIT_REQUEST_VERB = "submit_request"
VERB_KEY = "verb"

# Keys of the data that buttons carry besides the inputs.
REQUEST_ID_KEY = "request_id"
# Origin of a click: a request card, or a list (pending, reminder).
ORIGIN_KEY = "origin"
ORIGIN_CARD = "card"
ORIGIN_LIST = "list"

# Input ids of the request form and the rejection form.
ORGANIZATION_INPUT = "organization"
ORGANIZATION_QUERY_INPUT = "organization_query"
KIND_INPUT = "kind"
JUSTIFICATION_INPUT = "justification"
SURROGATE_ORG_INPUT = "surrogate_org"
PRODUCTS_INPUT = "products"
END_DATE_INPUT = "end_date"
REASON_INPUT = "reason"
