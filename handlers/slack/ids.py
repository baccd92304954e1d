"""Action, block and callback ids, shared by the message builders, the handlers and the tests."""

APPROVE_ACTION = "request_approve"
REJECT_ACTION = "request_reject"
DECISION_BLOCK = "request_decision"

REQUEST_VIEW = "access_request"
REJECT_VIEW = "access_reject"

ORGANIZATION_BLOCK = "organization"
ORGANIZATION_ACTION = "organization_select"
ROLE_BLOCK = "role"
ROLE_ACTION = "role_select"
JUSTIFICATION_BLOCK = "justification"
JUSTIFICATION_ACTION = "justification_input"
SURROGATE_ORG_BLOCK = "surrogate_org"
SURROGATE_ORG_ACTION = "surrogate_org_input"
PRODUCTS_BLOCK = "products"
PRODUCTS_ACTION = "products_select"
END_DATE_BLOCK = "end_date"
END_DATE_ACTION = "end_date_pick"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"

INVITATION_ACCEPT_ACTION = "invitation_accept"
INVITATION_DECLINE_ACTION = "invitation_decline"
INVITATION_BLOCK = "invitation_answer"

COMMAND = "/access"
