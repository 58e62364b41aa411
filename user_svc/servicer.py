"""UserService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from grpc import aio

from mesh import auth, convert, db
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.server import Service, create_server
from mesh.services import migrations_dir
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc
from user_svc import domain, store
from user_svc.settings import UserSettings

NAME = "user_svc"


def user_message(record: store.UserRecord, *, show_email: bool = False) -> user_pb2.User:
    """Return the User proto of an account."""
    return user_pb2.User(
        user_id=record.user_id,
        username=record.username,
        full_name=record.full_name,
        bio=record.bio,
        website=record.website,
        profile_pic_url=record.profile_pic_url,
        is_private=record.is_private,
        is_verified=record.is_verified,
        created_at=convert.timestamp(record.created_at),
        email=record.email if show_email else "",
    )


def summary_message(record: store.UserRecord) -> user_pb2.UserSummary:
    """Return the UserSummary proto of an account."""
    return user_pb2.UserSummary(
        user_id=record.user_id,
        username=record.username,
        full_name=record.full_name,
        profile_pic_url=record.profile_pic_url,
        is_verified=record.is_verified,
        is_private=record.is_private,
    )


class UserServicer(user_service_pb2_grpc.UserServiceServicer):
    """The gRPC face of the account rules."""

    def __init__(self, accounts: domain.Accounts) -> None:
        self._accounts = accounts

    async def Register(
        self, request: user_service_pb2.RegisterRequest, context: aio.ServicerContext
    ) -> user_service_pb2.RegisterResponse:
        signed_in = await self._accounts.register(
            username=request.username,
            email=request.email,
            password=request.password,
            full_name=request.full_name,
        )
        assert signed_in.user is not None
        return user_service_pb2.RegisterResponse(
            user=user_message(signed_in.user, show_email=True),
            access_token=signed_in.access_token,
            refresh_token=signed_in.refresh_token,
            expires_in=signed_in.expires_in,
        )

    async def Login(
        self, request: user_service_pb2.LoginRequest, context: aio.ServicerContext
    ) -> user_service_pb2.LoginResponse:
        signed_in = await self._accounts.login(login=request.username, password=request.password)
        assert signed_in.user is not None
        return user_service_pb2.LoginResponse(
            user=user_message(signed_in.user, show_email=True),
            access_token=signed_in.access_token,
            refresh_token=signed_in.refresh_token,
            expires_in=signed_in.expires_in,
        )

    async def RefreshToken(
        self, request: user_service_pb2.RefreshTokenRequest, context: aio.ServicerContext
    ) -> user_service_pb2.RefreshTokenResponse:
        renewed = await self._accounts.refresh(refresh_token=request.refresh_token)
        return user_service_pb2.RefreshTokenResponse(
            access_token=renewed.access_token,
            refresh_token=renewed.refresh_token,
            expires_in=renewed.expires_in,
        )

    async def Logout(
        self, request: user_service_pb2.LogoutRequest, context: aio.ServicerContext
    ) -> user_service_pb2.LogoutResponse:
        caller = auth.require_user()
        await self._accounts.logout(caller=caller, refresh_token=request.refresh_token)
        return user_service_pb2.LogoutResponse()

    async def GetUser(
        self, request: user_service_pb2.GetUserRequest, context: aio.ServicerContext
    ) -> user_service_pb2.GetUserResponse:
        viewer = auth.viewer_id()
        profile = await self._accounts.get_user(
            viewer=viewer, user_id=request.user_id, username=request.username
        )
        return user_service_pb2.GetUserResponse(
            user=user_message(profile.user, show_email=profile.show_email)
        )

    async def BatchGetUsers(
        self, request: user_service_pb2.BatchGetUsersRequest, context: aio.ServicerContext
    ) -> user_service_pb2.BatchGetUsersResponse:
        auth.current_principal()
        found = await self._accounts.batch_get(user_ids=list(request.user_ids))
        return user_service_pb2.BatchGetUsersResponse(users=[summary_message(u) for u in found])

    async def UpdateProfile(
        self, request: user_service_pb2.UpdateProfileRequest, context: aio.ServicerContext
    ) -> user_service_pb2.UpdateProfileResponse:
        caller = auth.require_user()
        changes = domain.ProfileChanges(
            full_name=request.full_name if request.HasField("full_name") else None,
            bio=request.bio if request.HasField("bio") else None,
            website=request.website if request.HasField("website") else None,
            is_private=request.is_private if request.HasField("is_private") else None,
        )
        profile = await self._accounts.update_profile(
            caller=caller, user_id=request.user_id, changes=changes
        )
        return user_service_pb2.UpdateProfileResponse(
            user=user_message(profile.user, show_email=profile.show_email)
        )

    async def SearchUsers(
        self, request: user_service_pb2.SearchUsersRequest, context: aio.ServicerContext
    ) -> user_service_pb2.SearchUsersResponse:
        auth.current_principal()
        found, token = await self._accounts.search(
            query=request.query, page_size=request.page_size, page_token=request.page_token
        )
        return user_service_pb2.SearchUsersResponse(
            users=[summary_message(u) for u in found], next_page_token=token
        )


async def create_user_service(settings: UserSettings) -> Service:
    """Open the database (migrated to the newest schema), wire the rules and start serving."""
    auth.ensure_keys(settings)
    engine = db.create_engine(NAME, settings, settings.database_url)
    await db.migrate(engine, NAME, migrations_dir(NAME))
    ids = IdGenerator()
    user_store = store.SqlUserStore(engine, outbox=Outbox(store.outbox, producer=NAME, ids=ids))
    accounts = domain.Accounts(
        user_store, issuer=auth.TokenIssuer(settings), ids=ids, settings=settings
    )
    servicer = UserServicer(accounts)
    return await create_server(
        NAME,
        settings,
        register=lambda server: user_service_pb2_grpc.add_UserServiceServicer_to_server(
            servicer, server
        ),
        service_names=[user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name],
        on_stop=[engine.dispose],
    )
