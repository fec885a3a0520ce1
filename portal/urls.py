"""The root URLconf: the portal's own pages (home, accounts, the admin's user and audit
pages) and each part's routes, included from that part (the worklist and the admin
overview are in ``reports.urls``)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from portal import i18n, views
from portal.accounts import oidc
from portal.accounts import security_views as security
from portal.accounts import views as accounts
from portal.accounts.forms import VerifyingSetPasswordForm

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("language/", i18n.set_language, name="set-language"),
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="javascript-catalog"),
    # accounts
    path("login/", accounts.login_view, name="login"),
    path("logout/", accounts.logout_view, name="logout"),
    path("login/code/", security.mfa_verify, name="mfa-verify"),
    path("login/two-factor/", security.mfa_enrol, name="mfa-enrol"),
    path("account/security/", security.security, name="account-security"),
    path("account/security/disable/", security.mfa_disable, name="mfa-disable"),
    path("account/security/codes/", security.mfa_recovery_codes, name="mfa-recovery-codes"),
    path("account/sessions/end/", security.session_end, name="session-end"),
    path("account/sessions/end-all/", security.sessions_end_all, name="sessions-end-all"),
    path("account/confirm/", security.reauth_view, name="reauth"),
    path("signup/", accounts.signup, name="signup"),
    path("oidc/login/", oidc.oidc_login, name="oidc-login"),
    path("oidc/callback/", oidc.oidc_callback, name="oidc-callback"),
    path("verify/<uidb64>/<token>/", accounts.verify_email, name="verify-email"),
    path("verify/again/", accounts.resend_verification, name="verify-resend"),
    path("invite/<uidb64>/<token>/", accounts.accept_invite, name="accept-invite"),
    path(
        "password-reset/",
        accounts.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            email_template_name="emails/password_reset.txt",
            html_email_template_name="emails/password_reset.html",
            subject_template_name="emails/password_reset.subject.txt",
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            form_class=VerifyingSetPasswordForm,
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("manage/users/", accounts.users, name="users"),
    path("manage/users/<int:pk>/", accounts.user_update, name="user-update"),
    path(
        "manage/users/<int:pk>/invite-again/",
        accounts.user_resend_invite,
        name="user-resend-invite",
    ),
    path("manage/users/<int:pk>/reset-2fa/", security.user_mfa_reset, name="user-mfa-reset"),
    path("manage/audit/", views.audit_log, name="audit-log"),
    # each part's own routes
    path("", include("uploads.urls")),
    path("", include("uploads.intake.urls")),
    path("", include("uploads.viewer.urls")),
    path("", include("uploads.sharing.urls")),
    path("", include("reports.urls")),
    path("", include("portal.apitokens.urls")),
    path("dicomweb/", include("dicomweb.urls")),
    path("", include("pacs.urls")),
    path("admin/", admin.site.urls),
]
