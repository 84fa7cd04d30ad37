// Runs first thing in <body> (a classic, blocking script, so there is no flash of the
// no-JavaScript layout). GOV.UK Frontend's CSS and initAll() look for these classes.
// It replaces the inline script of GOV.UK Frontend's page template, which a
// Content-Security-Policy without 'unsafe-inline' would block.
document.body.className +=
  ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
