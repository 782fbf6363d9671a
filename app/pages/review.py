"""Review page: paste a note or take the next one from the worklist, see the suggested codes with their
evidence, accept or reject each, add missed codes, submit; a submitted note can be revised.

The code list and evidence live in one fragment, so switching codes redraws only that part of the page;
the code search is another, so typing redraws only the search.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import resources, signed_in
from app.markdown_text import plain
from app.review_session import close_note, current_note_id, focus, focused_code, open_note
from app.services import decisions, evidence_view, notes, suggestions
from app.services.auth import PermissionDeniedError
from app.services.db import DatabaseUnavailableError
from app.services.decisions import CodeRow, ReviewState
from app.services.store import Action, NoteStatus
from plant_core import codes
from plant_core.coder import ModelLoadError

MESSAGE_KEY = "review_message"  # (kind, text) left by a button callback for the next run to show
ADD_QUERY_KEY = "review_add_query"
ADD_EVIDENCE_KEY = "review_add_evidence"
OVERVIEW_KEY = "review_overview_open"
ADDED_KEY = "review_code_added"  # set by the add callback: the page reruns whole to list the new code
MARKERS = {
    Action.ACCEPTED: ":green[:material/check_circle:]",
    Action.REJECTED: ":red[:material/cancel:]",
    Action.ADDED: ":blue[:material/add_circle:]",
}
PRESELECTED_MARKER = ":orange[:material/radio_button_checked:]"
UNDECIDED_MARKER = ":gray[:material/radio_button_unchecked:]"
LEGEND = (
    f"{PRESELECTED_MARKER} above the model's threshold (preselected) · {UNDECIDED_MARKER} below · "
    f"{MARKERS[Action.ACCEPTED]} accepted · {MARKERS[Action.REJECTED]} rejected · {MARKERS[Action.ADDED]} added  \n"
    "Keys: **A** accept · **X** reject · **J** / **K** next / previous code · **N** next note"
)
# Code buttons and search results read as left-aligned lists rather than centred buttons.
LIST_STYLE = """<style>
.st-key-review_code_list button, .st-key-review_add_results button { justify-content: flex-start; text-align: left; }
.st-key-review_code_list button > div, .st-key-review_add_results button > div { justify-content: flex-start; }
</style>"""
SEARCH_RESULTS = 8
SEEN_LOCK_PREFIX = "review_seen_lock_"  # + note id: the note's lock_version when last drawn
VIEWED_KEY = "review_viewed_note"  # the note whose opening is already in the audit log
# What a decision can fail with; each has a message for the coder.
DECISION_ERRORS = (
    decisions.NoteSubmittedError,
    decisions.StaleNoteError,
    PermissionDeniedError,
    DatabaseUnavailableError,
    ValueError,
)


def load_model() -> resources.LoadedModel | None:
    try:
        return resources.model()
    except ModelLoadError as e:
        st.error(
            f"The model could not be loaded, so no codes can be suggested: {plain(e)}\n\n"
            "Train one with `make demo-model` or point PLANT_CODER_MODEL_DIR at a model folder."
        )
        return None


def suggest_with(note_id: int, model: resources.LoadedModel) -> None:
    user = signed_in.require()
    with resources.session() as session:
        note = notes.get_note(session, user, note_id)
        with st.spinner("Suggesting codes…"):
            suggestions.suggest_for_note(
                session,
                user,
                note,
                model.coder,
                model.model_version_id,
                resources.config().suggestions_per_note,
            )


def suggest_if_needed(note_id: int, model: resources.LoadedModel | None) -> None:
    """Runs the model on a note without suggestions; offers a new run when another model made them."""
    if model is None:
        return
    user = signed_in.require()
    with resources.session() as session:
        run = suggestions.latest_run(session, user, note_id)
        submitted = notes.get_note(session, user, note_id).status == NoteStatus.SUBMITTED
    if run is None:
        suggest_with(note_id, model)
    elif run.model_version_id != model.model_version_id and not submitted:
        st.info(
            f"These suggestions come from model {plain(run.model_version.version)}; the model in use is "
            f"{plain(model.version)}. Decisions already made are kept either way."
        )
        if st.button(
            "Suggest again with the model in use", key="review_resuggest", icon=":material/refresh:"
        ):
            suggest_with(note_id, model)
            st.rerun()


def say(kind: str, text: str) -> None:
    st.session_state[MESSAGE_KEY] = (kind, text)


def show_message() -> None:
    """The last action's outcome, in a slot that is always there so the layout below never shifts."""
    slot = st.empty()
    kind, text = st.session_state.pop(MESSAGE_KEY, (None, None))
    if kind == "error":
        slot.error(plain(text))
    elif kind == "success":
        slot.success(plain(text))


# ---- actions (button callbacks: they run before the fragment redraws, so it shows their result) ----


def record(note_id: int, revision: int, action: Action) -> None:
    """Decides the code in focus now, not the one in focus when the button was drawn (keys pressed in
    quick succession each act on the code the previous one moved to), then moves to the next undecided."""
    code = focused_code()
    try:
        with resources.session() as session:
            user = signed_in.require()
            decisions.decide(session, user, note_id, code, action, revision)
            state = decisions.review_state(session, user, note_id)
    except DECISION_ERRORS as e:
        say("error", str(e))
        return
    focus(neighbours(state, code)[2])


def step(note_id: int, offset: int) -> None:
    """Moves the focus `offset` codes down the list (up when negative), from where it is now."""
    try:
        user = signed_in.require()
    except PermissionDeniedError as e:
        say("error", str(e))
        return
    with resources.session() as session:
        order = [row.code for row in decisions.review_state(session, user, note_id).rows]
    at = order.index(focused_code()) if focused_code() in order else 0
    focus(order[min(max(at + offset, 0), len(order) - 1)])


def record_all(note_id: int, revision: int, action: Action, predicted: bool) -> None:
    try:
        with resources.session() as session:
            decisions.decide_all(session, signed_in.require(), note_id, action, revision, predicted)
    except DECISION_ERRORS as e:
        say("error", str(e))


def add_missed_code(note_id: int, revision: int, text: str, code: str) -> None:
    spans: list[tuple[int, int]] = []
    for phrase in (st.session_state.get(ADD_EVIDENCE_KEY) or "").split(";"):
        found = evidence_view.find_phrase(text, phrase)
        if phrase.strip() and not found:
            say("error", f"“{phrase.strip()}” does not occur in the note; copy the evidence words from it.")
            return
        spans += found
    try:
        with resources.session() as session:
            decisions.add_code(session, signed_in.require(), note_id, code, revision, spans)
    except DECISION_ERRORS as e:
        say("error", str(e))
        return
    st.session_state[ADD_QUERY_KEY] = ""
    st.session_state[ADD_EVIDENCE_KEY] = ""
    st.session_state[ADDED_KEY] = True
    focus(codes.normalize(code))
    say("success", f"Added {codes.normalize(code)}.")


def submit(note_id: int, lock_version: int) -> None:
    try:
        with resources.session() as session:
            decisions.submit(session, signed_in.require(), note_id, lock_version)
    except (decisions.UndecidedSuggestionsError, *DECISION_ERRORS) as e:
        say("error", str(e))
        return
    say("success", "Submitted. Press “Next from worklist” (N) for the next note.")


def revise(note_id: int) -> None:
    try:
        with resources.session() as session:
            note = decisions.revise(session, signed_in.require(), note_id)
    except DECISION_ERRORS as e:
        say("error", str(e))
        return
    say("success", f"Revision {note.revision} opened: change any decision, then submit again.")


# ---- drawing ----


def row_label(row: CodeRow) -> str:
    marker = MARKERS.get(row.action, PRESELECTED_MARKER if row.predicted else UNDECIDED_MARKER)
    probability = f" · {row.probability:.0%}" if row.probability is not None else ""
    return f"{marker} **{plain(row.code)}** {plain(row.description)}{probability}"


def neighbours(state: ReviewState, focused: str) -> tuple[str | None, str | None, str]:
    """The codes before and after the focused one, and the next undecided suggestion after it (going
    round; the following code, or the focused one itself, when none is left undecided)."""
    order = [row.code for row in state.rows]
    at = order.index(focused)
    undecided = [code for code in order[at + 1 :] + order[:at] if code in state.undecided]
    previous = order[at - 1] if at > 0 else None
    following = order[at + 1] if at + 1 < len(order) else None
    return previous, following, (undecided[0] if undecided else following or focused)


def draw_code_list(state: ReviewState, focused: str) -> None:
    """The suggested and added codes, one button each; the code in focus is the highlighted one. Buttons
    rather than a radio list: a focused radio input would swallow the A / X / J / K keys."""
    with st.container(key="review_code_list", gap="xsmall"):
        for row in state.rows:
            st.button(
                row_label(row),
                key=f"focus-{row.code}",
                type="primary" if row.code == focused else "secondary",
                width="stretch",
                on_click=focus,
                args=(row.code,),
            )


def draw_bulk_decisions(state: ReviewState, editable: bool) -> None:
    note = state.note
    with st.container(horizontal=True):
        st.button(
            f"Accept all {PRESELECTED_MARKER}",
            key="review_accept_preselected",
            disabled=not editable,
            on_click=record_all,
            args=(note.id, note.revision, Action.ACCEPTED, True),
            help="Accepts every undecided suggestion above the model's threshold.",
        )
        st.button(
            f"Reject all {UNDECIDED_MARKER}",
            key="review_reject_others",
            disabled=not editable,
            on_click=record_all,
            args=(note.id, note.revision, Action.REJECTED, False),
            help="Rejects every undecided suggestion below the model's threshold.",
        )
    st.caption(LEGEND)


def draw_decision_buttons(state: ReviewState, focused: str, editable: bool) -> None:
    note = state.note
    previous, following, _ = neighbours(state, focused)
    with st.container(horizontal=True):
        st.button(
            "Accept",
            key="review_accept",
            shortcut="A",
            icon=":material/check:",
            type="primary",
            disabled=not editable,
            on_click=record,
            args=(note.id, note.revision, Action.ACCEPTED),
        )
        st.button(
            "Reject",
            key="review_reject",
            shortcut="X",
            icon=":material/close:",
            disabled=not editable,
            on_click=record,
            args=(note.id, note.revision, Action.REJECTED),
        )
        st.button(
            "Previous",
            key="review_previous",
            shortcut="K",
            icon=":material/arrow_upward:",
            disabled=previous is None,
            on_click=step,
            args=(note.id, -1),
        )
        st.button(
            "Next",
            key="review_next",
            shortcut="J",
            icon=":material/arrow_downward:",
            disabled=following is None,
            on_click=step,
            args=(note.id, 1),
        )


@st.fragment
def add_code_panel(note_id: int) -> None:
    """Type-ahead search for a missed code; its own fragment, so typing redraws only this panel."""
    if st.session_state.pop(ADDED_KEY, False):
        st.rerun()  # the whole page: the code list (another fragment) now holds the added code
    with resources.session() as session:
        note = notes.get_note(session, signed_in.fragment_user(), note_id)
    editable = note.status != NoteStatus.SUBMITTED
    st.markdown("**Add a missed code**")
    query = st.text_input(
        "Search codes",
        key=ADD_QUERY_KEY,
        placeholder="a code or words, e.g. E11.9 or diabetes kidney",
        live=True,
        disabled=not editable,
        type="search",
    )
    st.text_input(
        "Evidence words (optional)",
        key=ADD_EVIDENCE_KEY,
        disabled=not editable,
        help="Words copied from the note that support the code; separate several with ';'.",
    )
    matches = codes.search(query, limit=SEARCH_RESULTS) if query.strip() and editable else []
    if query.strip() and not matches:
        st.caption("No code matches; try other words or the start of a code.")
    with st.container(key="review_add_results", gap="xsmall"):
        for match in matches:
            st.button(
                f"**{plain(match.code)}** {plain(match.description)}",
                key=f"add-{match.code}",
                icon=":material/add:",
                width="stretch",
                on_click=add_missed_code,
                args=(note.id, note.revision, note.text, match.code),
            )


def draw_submission(state: ReviewState) -> None:
    note = state.note
    if note.status == NoteStatus.SUBMITTED:
        st.success(f"Revision {note.submitted_revision} is submitted.")
        if st.button(
            "Revise",
            key="review_revise",
            icon=":material/edit:",
            help="Opens a new revision that starts from these decisions; the submitted one is kept.",
        ):
            revise(note.id)
            st.rerun()  # the whole page, so the add-code panel opens up again too
        return
    if state.undecided:
        st.caption(
            f"{len(state.undecided)} suggestion(s) still undecided: {plain(', '.join(state.undecided))}"
        )
    # The version of the note this coder last saw drawn: a click is answered by a fresh run, which reads
    # the note anew, so the check must use what the page showed when the coder decided to submit.
    seen_key = f"{SEEN_LOCK_PREFIX}{note.id}"
    seen_lock_version = st.session_state.get(seen_key, note.lock_version)
    st.session_state[seen_key] = note.lock_version
    if st.button(
        "Submit note",
        key="review_submit",
        type="primary",
        icon=":material/send:",
        disabled=not state.can_submit,
    ):
        submit(note.id, seen_lock_version)
        st.rerun()  # the whole page, so the add-code panel closes too


def evidence_html(state: ReviewState, row: CodeRow) -> str:
    text = state.note.text
    if row.suggestion is not None and state.run is not None:
        phrases = "".join(
            f"<li><mark style='background: rgba(255,140,0,0.35)'>{html.escape(e['text'])}</mark> "
            f"<small>{e['weight']:.2f}</small></li>"
            for e in row.suggestion.evidence[:5]
        )
        top = f"<div><b>Top evidence</b><ol class='evidence-phrases'>{phrases}</ol></div>" if phrases else ""
        tinted = evidence_view.tinted_note_html(
            text, suggestions.token_offsets(state.run), suggestions.token_weights(row.suggestion)
        )
        return top + tinted
    if row.evidence_spans:
        return "<div><b>Evidence marked by the coder</b></div>" + evidence_view.marked_spans_html(
            text, row.evidence_spans
        )
    return "<div><i>No evidence marked for this code.</i></div>" + evidence_view.tinted_note_html(
        text, np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    )


def show_long_note_reading(state: ReviewState) -> None:
    """Says how a note longer than one model window was read, so a coder knows nothing was cut off."""
    if state.run is None:
        return
    window = (state.run.model_version.info.get("config") or {}).get("decoder", {}).get("window")
    tokens = len(suggestions.token_offsets(state.run))
    if window and tokens > window:
        st.caption(
            f":material/info: A long note: {tokens:,} tokens, read by the model in {-(-tokens // window)} "
            f"windows of {window:,} tokens; each code is scored by its best window. Nothing was cut off."
        )


def draw_evidence(state: ReviewState, row: CodeRow, editable: bool) -> None:
    st.markdown(f"#### {plain(row.code)} · {plain(row.description)}")
    details = []
    if row.probability is not None:
        details.append(
            f"probability {row.probability:.2f}" + (" (above the threshold)" if row.predicted else "")
        )
    if row.action is not None:
        details.append(f"{row.action} by {plain(row.decided_by)}")
    st.caption(" · ".join(details) or "undecided")
    draw_decision_buttons(state, row.code, editable)
    st.html(evidence_html(state, row))


@st.fragment
def review_panel(note_id: int) -> None:
    with resources.session() as session:
        state = decisions.review_state(session, signed_in.fragment_user(), note_id)
    note = state.note
    st.subheader(f"Note {plain(note.external_id)}")
    decided = len([row for row in state.rows if row.suggestion is not None]) - len(state.undecided)
    st.caption(
        f"{note.status} · revision {note.revision} · assigned to {plain(note.assignee or 'nobody')} · "
        f"{decided} of {len(state.run.suggestions) if state.run else 0} suggestions decided · {plain(note.source)}"
    )
    show_long_note_reading(state)
    show_message()
    if not state.rows:
        st.info("No suggestions for this note yet: the model is needed to suggest codes.")
        return
    if focused_code() not in [row.code for row in state.rows]:
        focus(state.undecided[0] if state.undecided else state.rows[0].code)
    focused = focused_code()
    editable = note.status != NoteStatus.SUBMITTED
    codes_column, evidence_column = st.columns([2, 3], gap="medium")
    with codes_column:
        draw_code_list(state, focused)
        draw_bulk_decisions(state, editable)
        draw_submission(state)
    with evidence_column:
        draw_evidence(state, next(row for row in state.rows if row.code == focused), editable)
    if st.toggle("Show the decision history", key="review_show_history"):
        draw_history(note_id)


def draw_history(note_id: int) -> None:
    """Every decision on the note, oldest first: drawn only on request, as a table costs a redraw."""
    with resources.session() as session:
        rows = [
            {
                "code": d.code,
                "decision": d.action,
                "coder": d.coder,
                "revision": d.revision,
                "time (UTC)": d.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
            }
            for d in decisions.history(session, signed_in.require(), note_id)
        ]
    st.dataframe(rows, hide_index=True, width="stretch")


def draw_overview(note_id: int) -> None:
    """Codes × note sections: where in the note each suggested code found its evidence. Drawn only
    while the expander is open: a chart on the page slows every redraw of the code list."""
    overview = st.expander(
        "Overview: where each suggested code's evidence is in the note", key=OVERVIEW_KEY, on_change="rerun"
    )
    if not overview.open:
        return
    with resources.session() as session:
        state = decisions.review_state(session, signed_in.require(), note_id)
    if state.run is None or not state.run.suggestions:
        overview.caption("No suggestions yet.")
        return
    sections = evidence_view.note_sections(state.note.text)
    offsets = suggestions.token_offsets(state.run)
    weights = np.stack([suggestions.token_weights(s) for s in state.run.suggestions])
    matrix = evidence_view.section_matrix(sections, offsets, weights)
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[s.title for s in sections],
            y=[s.code for s in state.run.suggestions],
            colorscale="Oranges",
            zmin=0,
            zmax=1,
            colorbar={"title": "attention"},
            hovertemplate="%{y} · %{x}: %{z:.2f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=120 + 24 * len(state.run.suggestions),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"autorange": "reversed"},
    )
    overview.plotly_chart(figure, width="stretch", key="review_overview_chart")


user = signed_in.page_user()
st.title("Review")
st.html(LIST_STYLE)  # once per page run, outside the fragment: restyling on every code switch costs
model = load_model()
with st.container(border=True):
    pasted = st.text_area("Note", key="review_paste", height=140, placeholder="Paste a clinical note here…")
    with st.container(horizontal=True):
        suggest_clicked = st.button(
            "Suggest codes",
            type="primary",
            shortcut="Ctrl+Enter",
            disabled=model is None,
            key="review_suggest",
        )
        next_clicked = st.button("Next from worklist", shortcut="N", key="review_next_note")

if suggest_clicked:
    try:
        with resources.session() as session:
            pasted_note = notes.create_pasted_note(session, user, pasted)
        open_note(pasted_note.id)
    except (ValueError, PermissionDeniedError) as e:  # empty, too long or binary text; another's note
        st.warning(plain(e))
if next_clicked:
    with resources.session() as session:
        following_note = notes.next_note(session, user, current_note_id())
    if following_note is None:
        st.info("The worklist has no unsubmitted note left for you.")
    else:
        open_note(following_note.id)

note_id = current_note_id()
if note_id is None:
    st.info(
        "Paste a note and press **Suggest codes** (Ctrl+Enter), or open the next note from the worklist (N)."
    )
    st.stop()
try:
    if st.session_state.get(VIEWED_KEY) != note_id:
        with resources.session() as session:
            notes.view_note(session, user, note_id)  # checks access; recorded once per opening
        st.session_state[VIEWED_KEY] = note_id
    suggest_if_needed(note_id, model)
except (notes.NoteNotFoundError, PermissionDeniedError) as e:
    close_note()
    st.warning(plain(e))
    st.stop()
review_panel(note_id)
add_code_column, _ = st.columns([2, 3], gap="medium")
with add_code_column:
    add_code_panel(note_id)
draw_overview(note_id)
