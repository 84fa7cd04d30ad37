"""The sign-in form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovTextInput
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from web.forms.validators import NoControlCharacters
from web.services.accounts import EMAIL_PATTERN

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
