from django.urls import path

from portal.apitokens import views

urlpatterns = [
    path("account/tokens/", views.token_list, name="api-tokens"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="api-token-revoke"),
]
