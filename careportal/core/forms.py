"""Form rendering through the NHS.UK frontend macros.

A page writes `{{ form.field.as_field_group() }}`; Django hands the bound field to `forms/field.jinja`, which calls
the NHS.UK input, textarea, radios, checkboxes, select or date macro with the label, hint and error message wired up.
"""

from typing import Any

from django.forms.renderers import Jinja2


class NHSFormRenderer(Jinja2):
    form_template_name = "forms/form.jinja"
    field_template_name = "forms/field.jinja"

    @property
    def engine(self):  # type: ignore[override]
        # Render with the project's Jinja environment (with the NHS.UK macro loader), not a bare one.
        from django.template import engines

        return engines["jinja2"]

    def get_template(self, template_name: str):  # type: ignore[no-untyped-def]
        # The Django admin's own widgets (related-object buttons, date pickers) exist only as Django templates.
        from django.template import TemplateDoesNotExist, engines

        try:
            return super().get_template(template_name)
        except TemplateDoesNotExist:
            return engines["django"].get_template(template_name)


def nhs_field(bound_field) -> dict:  # type: ignore[no-untyped-def]
    """The NHS.UK macro to call for a bound field, and its parameters."""
    from django import forms

    field = bound_field.field
    widget = field.widget
    params: dict = {
        "id": bound_field.auto_id,
        "name": bound_field.html_name,
        "label": {"text": str(bound_field.label)},
    }
    if bound_field.help_text:
        params["hint"] = {"text": str(bound_field.help_text)}
    if bound_field.errors:
        params["errorMessage"] = {"text": " ".join(str(e) for e in bound_field.errors)}
    attributes = {
        key: value
        for key, value in widget.attrs.items()
        if key not in {"class", "id", "name"} and value not in (None, False)
    }
    if field.required and not isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
        attributes.setdefault("required", True)
    value = bound_field.value()

    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        # CheckboxSelectMultiple is a subclass of RadioSelect, so it must be asked about first.
        kind = "checkboxes" if isinstance(widget, forms.CheckboxSelectMultiple) else "radios"
        selected = {str(v) for v in (value if isinstance(value, list | tuple) else [value]) if v is not None}
        params.pop("label")
        params["idPrefix"] = params.pop("id")
        params["fieldset"] = {"legend": {"text": str(bound_field.label), "size": "s"}}
        params["items"] = [
            {"value": str(choice_value), "text": str(choice_label), "checked": str(choice_value) in selected}
            for choice_value, choice_label in field.choices
            if choice_value != ""
        ]
        return {"kind": kind, "params": params}
    if isinstance(widget, forms.Select):
        params["items"] = [
            {"value": str(v), "text": str(label), "selected": str(v) == str(value)} for v, label in field.choices
        ]
        return {"kind": "select", "params": params}
    if isinstance(widget, forms.Textarea):
        params["value"] = value or ""
        params["rows"] = widget.attrs.get("rows", 5)
        # `rows` is the macro's own parameter; Django's default `cols` means nothing under the NHS.UK styles.
        params["attributes"] = {key: value for key, value in attributes.items() if key not in {"rows", "cols"}}
        return {"kind": "textarea", "params": params}
    if isinstance(widget, forms.CheckboxInput):
        params.pop("label")
        params["idPrefix"] = params.pop("id")
        params["items"] = [{"value": "on", "text": str(bound_field.label), "checked": bool(value)}]
        return {"kind": "checkboxes", "params": params}

    if isinstance(widget, forms.FileInput):
        # The NHS.UK file upload component; a file input is never given a value back.
        params["multiple"] = bool(attributes.pop("multiple", False))
        params["attributes"] = attributes
        return {"kind": "file", "params": params}

    input_type = getattr(widget, "input_type", "text")
    if "autocomplete" in attributes:
        params["autocomplete"] = attributes.pop("autocomplete")
    if input_type == "password":
        # Never echo a password back into the page.
        params["value"] = ""
        params["attributes"] = attributes
        return {"kind": "password", "params": params}
    params["type"] = input_type
    params["value"] = "" if value is None else str(value)
    if "inputmode" in attributes:
        params["inputmode"] = attributes.pop("inputmode")
    if "spellcheck" in attributes:
        params["spellcheck"] = attributes.pop("spellcheck")
    params["attributes"] = attributes
    css = widget.attrs.get("class")
    if css:
        params["classes"] = css
    return {"kind": "input", "params": params}


def page_forms_with_failure(page_forms: dict[str, Any], failed: Any | None) -> dict[str, Any]:
    """The template context for a page that shows several forms, each posted on its own: when one came back with
    errors, it takes the place of its blank twin, and the layout's error summary is built from it (`form`)."""
    context: dict[str, Any] = dict(page_forms)
    if failed is not None:
        context["form"] = failed
        for name, each in page_forms.items():
            if type(each) is type(failed):
                context[name] = failed
    return context


# Field helpers shared by the apps' forms ---------------------------------------------------------------------


def without_maxlength(field: Any) -> Any:
    """`field` without the browser's `maxlength`: the server says "must be N characters or fewer", where a
    browser limit would cut the text off without a word."""
    field.widget.attrs.pop("maxlength", None)
    return field


def code_input(width: int) -> Any:
    """A text input for a code typed exactly as another system sends it (a test code, an HL7 sender id): no
    spelling checks, no autocomplete, capitals on phone keyboards, and an NHS.UK fixed width."""
    from django import forms

    return forms.TextInput(
        attrs={
            "class": f"nhsuk-input--width-{width}",
            "autocomplete": "off",
            "spellcheck": False,
            "autocapitalize": "characters",
        }
    )


def text_area_field(
    *,
    label: str,
    hint: str,
    max_length: int,
    required_message: str,
    too_long_message: str,
    rows: int = 3,
    field_class: Any = None,
) -> Any:
    """A required text area with NHS.UK error messages and no browser length limit. `field_class` is
    `forms.CharField` unless given (`UserTextField` for text shown back to other people)."""
    from django import forms

    field = (field_class or forms.CharField)(
        label=label,
        help_text=hint,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": rows}),
        error_messages={"required": required_message, "max_length": too_long_message},
    )
    return without_maxlength(field)


def reason_field(
    *,
    hint: str,
    max_length: int,
    label: str = "Reason",
    required_message: str = "Enter the reason",
    field_class: Any = None,
) -> Any:
    """The reason staff give for an action that needs one (holding or withdrawing a result, dismissing an HL7
    message, a helpdesk action): required, up to `max_length` characters, "Reason must be N characters or fewer".
    Kept with the action's record, for staff."""
    return text_area_field(
        label=label,
        hint=hint,
        max_length=max_length,
        required_message=required_message,
        too_long_message=f"Reason must be {max_length} characters or fewer",
        field_class=field_class,
    )
