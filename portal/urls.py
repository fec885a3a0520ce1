from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views
from portal.accounts import views as accounts
from portal.accounts.forms import VerifyingSetPasswordForm
from uploads import admin_views, api, deid_api, viewer
from uploads import views as uploads

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    # accounts
    path("login/", accounts.login_view, name="login"),
    path("logout/", accounts.logout_view, name="logout"),
    path("signup/", accounts.signup, name="signup"),
    path("verify/<uidb64>/<token>/", accounts.verify_email, name="verify-email"),
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
    # role homes
    path("studies/", uploads.study_list, name="studies"),
    path("studies/<int:pk>/", uploads.study_detail, name="study"),
    path("upload/", uploads.upload_page, name="upload"),
    path("studies/<int:pk>/viewer/", viewer.viewer_page, name="viewer"),
    path("api/studies/<int:pk>/manifest/", viewer.manifest, name="api-study-manifest"),
    path("api/instances/<int:pk>/slice.png", viewer.slice_image, name="api-instance-slice"),
    path("api/instances/<int:pk>/attributes/", viewer.attributes, name="api-instance-attributes"),
    path("api/instances/<int:pk>/rt/", viewer.rt_overlay_json, name="api-instance-rt"),
    path("api/uploads/config/", api.config, name="api-upload-config"),
    path("api/deid/profile/", deid_api.profile, name="api-deid-profile"),
    path("api/uploads/open/", api.open_upload, name="api-upload-open"),
    path("api/uploads/", api.create, name="api-upload-create"),
    path("api/uploads/<int:upload_id>/", api.status, name="api-upload-status"),
    path("api/uploads/<int:upload_id>/files/", api.register, name="api-upload-register"),
    path("api/uploads/<int:upload_id>/files/<str:key>", api.put_chunk, name="api-upload-chunk"),
    path("api/uploads/<int:upload_id>/batch/", api.put_batch, name="api-upload-batch"),
    path("api/uploads/<int:upload_id>/finish/", api.finish, name="api-upload-finish"),
    path("api/uploads/<int:upload_id>/cancel/", api.cancel, name="api-upload-cancel"),
    path("worklist/", views.worklist, name="worklist"),
    path("manage/", views.manage, name="manage"),
    path("manage/users/", accounts.users, name="users"),
    path("manage/users/<int:pk>/", accounts.user_update, name="user-update"),
    path("manage/studies/<int:pk>/assign/", views.assign_study, name="assign-study"),
    path("manage/audit/", views.audit_log, name="audit-log"),
    path("manage/uploads/", admin_views.upload_list, name="admin-uploads"),
    path("manage/uploads/<int:pk>/", admin_views.upload_detail, name="admin-upload"),
    path("manage/uploads/<int:pk>/retry/", admin_views.upload_retry, name="admin-upload-retry"),
    path("manage/uploads/<int:pk>/cancel/", admin_views.upload_cancel, name="admin-upload-cancel"),
    path("manage/uploads/<int:pk>/close/", admin_views.upload_close, name="admin-upload-close"),
    path("", include("reports.urls")),
    path("", include("uploads.sharing_urls")),
    path("admin/", admin.site.urls),
]
