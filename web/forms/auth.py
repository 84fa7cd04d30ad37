"""The sign-in form, and the form for changing your own password."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from web.forms.validators import NoControlCharacters
from web.services.accounts import EMAIL_PATTERN, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

EMAIL_FORMAT = "Enter an email address in the correct format, like name@example.com"


class SignInForm(FlaskForm):
    """Email address and password."""

    email = StringField(
        "Email address",
        widget=GovTextInput(),
        validators=[
            DataRequired(message="Enter your email address"),
            Length(max=300, message="Email address must be 300 characters or fewer"),
            Regexp(EMAIL_PATTERN, message=EMAIL_FORMAT),
            NoControlCharacters(EMAIL_FORMAT),  # NUL would reach the database
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )
    password = PasswordField(
        "Password",
        widget=GovPasswordInput(),
        validators=[
            DataRequired(message="Enter your password"),
            Length(max=1000, message="Password must be 1,000 characters or fewer"),
        ],
    )


#: The hint under every field that sets a password.
NEW_PASSWORD_HINT = (f"At least {MIN_PASSWORD_LENGTH} characters. Three or more random words "
                     "make a password that is long and easy to remember.")
_TOO_LONG = f"Password must be {MAX_PASSWORD_LENGTH:,} characters or fewer"
_TOO_SHORT = f"The password must be at least {MIN_PASSWORD_LENGTH} characters"


def new_password_fields(label: str) -> tuple[PasswordField, PasswordField]:
    """A new password and its confirmation, for the forms that set one."""
    return (
        PasswordField(
            label, widget=GovPasswordInput(), description=NEW_PASSWORD_HINT,
            # the service checks these again; here they are shown with the form's other errors
            validators=[DataRequired(message=f"Enter the {label.lower()}"),
                        Length(min=MIN_PASSWORD_LENGTH, message=_TOO_SHORT),
                        Length(max=MAX_PASSWORD_LENGTH, message=_TOO_LONG)],
        ),
        PasswordField(
            f"Confirm the {label.lower()}", widget=GovPasswordInput(),
            validators=[DataRequired(message=f"Confirm the {label.lower()}"),
                        EqualTo("new_password", message="The passwords do not match")],
        ),
    )


class ChangePasswordForm(FlaskForm):
    """Your current password, and the new one twice."""

    current_password = PasswordField(
        "Current password", widget=GovPasswordInput(),
        validators=[DataRequired(message="Enter your current password"),
                    Length(max=MAX_PASSWORD_LENGTH, message=_TOO_LONG)],
    )
    new_password, confirm_password = new_password_fields("New password")
    submit = SubmitField("Change password", widget=GovSubmitInput())
